using System.Diagnostics.Metrics;

namespace Hipache.Aspire.Router;

/// <summary>
/// The router's OpenTelemetry instruments. Tags are bounded (status class, outcome), never a
/// tenant host: 100k hosts must not become 100k time series.
/// </summary>
internal sealed class RouterMetrics
{
    public const string MeterName = "Hipache.Aspire.Router";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _upstreamDuration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _deadMarks;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _cacheInvalidations;
    private readonly Counter<long> _cacheEvictions;
    private readonly Counter<long> _staleServed;
    private readonly Counter<long> _cacheRefreshes;
    private readonly Counter<long> _probes;
    private readonly Histogram<double> _probeDuration;

    public RouterMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("hipache.router.requests", "{request}", "Requests answered, by status class.");
        _upstreamDuration = meter.CreateHistogram<double>("hipache.router.upstream.duration", "s", "Time from the start of the last attempt to the backend's response headers.");
        _retries = meter.CreateCounter<long>("hipache.router.retries", "{retry}", "Attempts repeated on another backend after a connection error.");
        _deadMarks = meter.CreateCounter<long>("hipache.router.dead_marks", "{mark}", "Backends this router marked dead.");
        _cacheHits = meter.CreateCounter<long>("hipache.router.route_cache.hits", "{lookup}", "Lookups answered from memory.");
        _cacheMisses = meter.CreateCounter<long>("hipache.router.route_cache.misses", "{lookup}", "Lookups that read Redis.");
        _cacheInvalidations = meter.CreateCounter<long>("hipache.router.route_cache.invalidations", "{change}", "Route changes that dropped cached entries.");
        _cacheEvictions = meter.CreateCounter<long>("hipache.router.route_cache.evictions", "{eviction}", "Times the cache was full and freed room.");
        _cacheRefreshes = meter.CreateCounter<long>("hipache.router.route_cache.refreshes", "{read}", "Background reads of a cached key: ahead of its expiry, or at once after a change.");
        _probes = meter.CreateCounter<long>("hipache.router.health.probes", "{probe}", "Active health probes of this router, by result (healthy, failed).");
        _probeDuration = meter.CreateHistogram<double>("hipache.router.health.probe.duration", "s", "Time an active health probe took, failures included.");
        _staleServed = meter.CreateCounter<long>("hipache.router.route_cache.stale_served", "{lookup}", "Lookups answered from an expired entry because Redis was unreachable.");
    }

    public void Request(int status) => _requests.Add(1, new KeyValuePair<string, object?>("http.response.status_class", StatusClass(status)));

    /// <summary>With <c>Router:PerFrontendMetrics</c>: one series per frontend key, for installations that can afford it.</summary>
    public void Request(int status, string frontendKey) => _requests.Add(
        1,
        new KeyValuePair<string, object?>("http.response.status_class", StatusClass(status)),
        new KeyValuePair<string, object?>("hipache.frontend", frontendKey));

    public void UpstreamDuration(double seconds) => _upstreamDuration.Record(seconds);

    public void Retry() => _retries.Add(1);

    public void Probe(bool healthy, double seconds)
    {
        _probes.Add(1, new KeyValuePair<string, object?>("result", healthy ? "healthy" : "failed"));
        _probeDuration.Record(seconds);
    }

    public void DeadMark() => _deadMarks.Add(1);

    public void CacheHit() => _cacheHits.Add(1);

    public void CacheMiss() => _cacheMisses.Add(1);

    public void Invalidation() => _cacheInvalidations.Add(1);

    public void Evicted() => _cacheEvictions.Add(1);

    public void StaleServed() => _staleServed.Add(1);

    public void Refreshed() => _cacheRefreshes.Add(1);

    private static string StatusClass(int status) => status switch
    {
        < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        < 500 => "4xx",
        _ => "5xx",
    };
}
