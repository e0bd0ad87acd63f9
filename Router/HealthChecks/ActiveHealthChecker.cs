using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.HealthChecks;

/// <summary>
/// The built-in active health checker (<c>Router:HealthCheck:Enabled</c>): what hipache-hchecker
/// did, inside the router. Every <see cref="HealthCheckOptions.Interval"/> (with jitter) it probes
/// the backends of every frontend (HTTP GET of <see cref="HealthCheckOptions.Path"/> or a TCP
/// connect); after <see cref="HealthCheckOptions.Fall"/> failed probes in a row it adds the
/// backend's index to the dead set of every frontend that lists it, with a TTL, and publishes
/// Hipache's <c>dead</c> message; after <see cref="HealthCheckOptions.Rise"/> good ones it takes
/// the index out again. It writes <c>hchecker_ping</c>, so every router (Hipache's too) leaves
/// the dead sets to it.
/// <para>
/// It lives in the router rather than in a service of its own because routers already hold the
/// Redis connections and scale out: each backend is probed by one router at a time, the one that
/// holds its lease in Redis (<see cref="RouteKeys.CheckLease"/>, two intervals long, renewed by
/// its holder every cycle), so N routers split the probes and a router that dies hands its
/// backends over within two intervals. A dead mark is re-issued every cycle while the backend
/// stays down, with a TTL of three intervals (at least 10 s), so that the marks of a checker that
/// goes away expire on their own.
/// </para>
/// </summary>
internal sealed partial class ActiveHealthChecker(
    RouteReader reader,
    RouteWriter writer,
    RouterMetrics metrics,
    IOptions<RouterOptions> options,
    TimeProvider time,
    ILogger<ActiveHealthChecker> logger) : BackgroundService
{
    // Probe targets whose leases are taken in one pipelined round trip, just before their probes.
    private const int LeaseChunk = 500;

    private readonly HealthCheckOptions _options = options.Value.HealthCheck;
    private readonly string _owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private readonly ConcurrentDictionary<string, ProbeState> _states = new(StringComparer.Ordinal);
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        // A probe is one fresh connection: a backend that accepts no new connection is down
        // even if an old pooled one still answers.
        PooledConnectionLifetime = TimeSpan.Zero,
    });

    private Dictionary<string, Backend> _backends = new(StringComparer.Ordinal);
    private long _tableReadAt = long.MinValue;

    private TimeSpan DeadTtl => TimeSpan.FromTicks(Math.Max(_options.Interval.Ticks * 3, TimeSpan.FromSeconds(10).Ticks));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        LogStarted(logger, _options.Mode, _options.Interval, _options.Fall, _options.Rise);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = time.GetTimestamp();
                try
                {
                    await CycleAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // Redis down: nothing can be marked; the marks already made expire on their own.
                    LogCycleFailed(logger, ex.Message);
                }

                var jitter = (Random.Shared.NextDouble() * 2 - 1) * _options.Jitter;
                var wait = _options.Interval * (1 + jitter) - time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CycleAsync(CancellationToken cancellationToken)
    {
        await writer.WriteCheckerHeartbeatAsync(time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        if (time.GetElapsedTime(_tableReadAt) >= _options.TableRefresh || _tableReadAt == long.MinValue)
        {
            _backends = await ReadBackendsAsync(cancellationToken).ConfigureAwait(false);
            _tableReadAt = time.GetTimestamp();
            foreach (var gone in _states.Keys.Where(target => !_backends.ContainsKey(target)).ToArray())
            {
                _states.TryRemove(gone, out _);
            }
        }

        if (_backends.Count == 0)
        {
            return;
        }

        // Leases are taken chunk by chunk, just before the chunk's probes: a round over many
        // backends can outlast a lease (two intervals), and routers sharing the work then split
        // it chunk by chunk (a chunk another router holds is skipped at the cost of one pipelined
        // round trip). Keyed by probe target (the URL, plus the frontend's own path if any).
        var targets = _backends.Keys.ToArray();
        using var slots = new SemaphoreSlim(_options.MaxConcurrentProbes);
        var probes = new List<Task>();
        for (var start = 0; start < targets.Length; start += LeaseChunk)
        {
            var chunk = targets.AsMemory(start, Math.Min(LeaseChunk, targets.Length - start)).ToArray();
            var owned = await writer.ClaimCheckLeasesAsync(chunk, _owner, _options.Interval * 2, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (!owned[i])
                {
                    // Another router probes it; what we knew of it is stale from now on.
                    _states.TryRemove(chunk[i], out _);
                    continue;
                }

                await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                probes.Add(ProbeAndRecordAsync(chunk[i], _backends[chunk[i]], slots, cancellationToken));
            }
        }

        await Task.WhenAll(probes).ConfigureAwait(false);
    }

    /// <summary>
    /// Every distinct probe target (backend URL and health path) of every frontend, and the
    /// frontends that list it, from a SCAN of the whole table and the frontends' settings.
    /// </summary>
    private async Task<Dictionary<string, Backend>> ReadBackendsAsync(CancellationToken cancellationToken)
    {
        var backends = new Dictionary<string, Backend>(StringComparer.Ordinal);
        var position = ScanPosition.Start;
        while (true)
        {
            var page = await reader.ScanFrontendsAsync("*", position, 1000, cancellationToken).ConfigureAwait(false);
            var settings = await reader.GetBalancingsAsync([.. page.Items.Select(f => f.Key)], cancellationToken).ConfigureAwait(false);
            for (var f = 0; f < page.Items.Count; f++)
            {
                var frontend = page.Items[f];
                var path = settings[f].HealthPath;
                foreach (var url in frontend.Backends.Distinct())
                {
                    var target = Balancing.ProbeTarget(url, path);
                    if (backends.TryGetValue(target, out var known))
                    {
                        known.Frontends.Add(frontend.Key);
                    }
                    else if (BackendAddress.Parse(url) is { IsValid: true } address)
                    {
                        backends[target] = new Backend(url, path ?? _options.Path, address, new Uri(address.DestinationPrefix!), [frontend.Key]);
                    }
                }
            }

            if (page.Next is not { } next)
            {
                return backends;
            }

            position = next;
        }
    }

    private async Task ProbeAndRecordAsync(string target, Backend backend, SemaphoreSlim slots, CancellationToken cancellationToken)
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            var healthy = await ProbeAsync(backend, cancellationToken).ConfigureAwait(false);
            var latency = Stopwatch.GetElapsedTime(started);
            metrics.Probe(healthy, latency.TotalSeconds);
            var state = _states.GetOrAdd(target, static _ => new ProbeState());
            var transition = state.Record(healthy, _options.Fall, _options.Rise);
            await writer.RecordProbeAsync(target, new ProbeResult(healthy, latency.TotalMilliseconds, time.GetUtcNow()), DeadTtl).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (transition == ProbeTransition.Down)
            {
                LogDown(logger, backend.Address.HostAndPort, state.ConsecutiveFailures);
            }
            else if (transition == ProbeTransition.Up)
            {
                LogUp(logger, backend.Address.HostAndPort, state.ConsecutivePasses);
                await ClearAsync(backend, cancellationToken).ConfigureAwait(false);
            }

            if (state.IsDown)
            {
                // Every cycle while down: the dead sets' TTL is re-armed, and a frontend that
                // listed the backend since the last scan gets its mark too.
                await MarkAsync(backend, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogCycleFailed(logger, ex.Message);
        }
        finally
        {
            slots.Release();
        }
    }

    private async Task<bool> ProbeAsync(Backend backend, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            if (_options.Mode == HealthProbeKind.Tcp)
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(backend.Destination.DnsSafeHost, backend.Destination.Port, timeout.Token).ConfigureAwait(false);
                return true;
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, backend.Address.DestinationPrefix + backend.Path);
            request.Headers.UserAgent.ParseAdd("hipache-aspire-checker");
            if (backend.Address.IsHttp2)
            {
                // An h2c:// backend (a gRPC server) may speak nothing but HTTP/2: probe it the way
                // requests reach it. Each probe is still a fresh connection (PooledConnectionLifetime).
                request.Version = HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            }
            else
            {
                request.Headers.ConnectionClose = true;
            }
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            return (int)response.StatusCode is >= 200 and < 400;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or OperationCanceledException or IOException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            return false;
        }
    }

    /// <summary>Marks the backend dead wherever the lists name it now (read fresh: indexes move).</summary>
    private async Task MarkAsync(Backend backend, CancellationToken cancellationToken)
    {
        foreach (var (key, index, count) in await PlacesAsync(backend, cancellationToken).ConfigureAwait(false))
        {
            await writer.MarkDeadAsync(key, backend.Address.Href, index, count, DeadTtl, writeDeadSet: true).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ClearAsync(Backend backend, CancellationToken cancellationToken)
    {
        foreach (var (key, index, _) in await PlacesAsync(backend, cancellationToken).ConfigureAwait(false))
        {
            await writer.ClearDeadAsync(key, index, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Each (frontend, index, backend count) where the frontends that listed the backend at the last scan list it now.</summary>
    private async Task<List<(string Key, int Index, int Count)>> PlacesAsync(Backend backend, CancellationToken cancellationToken)
    {
        var places = new List<(string, int, int)>();
        foreach (var key in backend.Frontends)
        {
            if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is not { } frontend)
            {
                continue;
            }

            for (var i = 0; i < frontend.Backends.Count; i++)
            {
                if (frontend.Backends[i] == backend.Url)
                {
                    places.Add((key, i, frontend.Backends.Count));
                }
            }
        }

        return places;
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    /// <summary>A probe target: a backend URL as parsed, the path it is probed on, and the frontends that listed it with that path at the last scan.</summary>
    private sealed record Backend(string Url, string Path, BackendAddress Address, Uri Destination, List<string> Frontends);

    [LoggerMessage(EventId = 80, Level = LogLevel.Information, Message = "Active health checks on: {Mode} probes every {Interval}, down after {Fall} failures, up after {Rise} passes")]
    private static partial void LogStarted(ILogger logger, HealthProbeKind mode, TimeSpan interval, int fall, int rise);

    [LoggerMessage(EventId = 81, Level = LogLevel.Warning, Message = "Backend {Backend} is down ({Failures} failed probes in a row): marked dead")]
    private static partial void LogDown(ILogger logger, string backend, int failures);

    [LoggerMessage(EventId = 82, Level = LogLevel.Information, Message = "Backend {Backend} is up again ({Passes} good probes in a row): dead marks cleared")]
    private static partial void LogUp(ILogger logger, string backend, int passes);

    [LoggerMessage(EventId = 83, Level = LogLevel.Warning, Message = "A health check cycle could not complete: {Reason}")]
    private static partial void LogCycleFailed(ILogger logger, string reason);
}
