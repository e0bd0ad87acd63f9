using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Marks a backend dead (hipache-compat 4.3, 2.5): dead set + TTL (passive mode only) and a
/// <c>dead</c> message, keyed by the matched frontend key (Q12) or, in Hipache mode, by the
/// requested host. Single-backend frontends are never marked; in Safe mode neither are more of a
/// frontend's backends than <see cref="BackendHealth.MayEject"/> allows, and the TTL grows with
/// repeated ejections (<see cref="BackendHealth.NextEjection"/>). The write is not awaited by
/// the request; its failure is logged.
/// </summary>
internal sealed partial class DeadBackendReporter(
    RouteWriter store,
    RouteCache cache,
    DeadMarkBook marks,
    BackendHealth health,
    CheckerHeartbeatMonitor checker,
    RouterMetrics metrics,
    IOptions<RouterOptions> options,
    ILogger<DeadBackendReporter> logger)
{
    private readonly bool _byRequestedHost = options.Value.Compatibility == CompatibilityMode.Hipache;
    public void Report(RouteEntry route, string requestedHost, int index, string reason)
    {
        if (route.Backends.Length <= 1 || !health.MayEject(route))
        {
            return;
        }

        var key = _byRequestedHost ? requestedHost : route.FrontendKey;
        var backend = route.Backends[index];
        metrics.DeadMark();
        LogMarkedDead(logger, backend.HostAndPort, index, route.Identifier, reason);
        // The batch is sent before MarkDeadAsync first yields; dropping the cached entry right
        // after it means the next lookup, queued behind the write on the same ordered connection,
        // already sees the mark (as Hipache's evicted LRU entry did).
        var ttl = health.NextEjection(backend.Href);
        marks.Record(key, index, backend.Href, ttl);
        var write = store.MarkDeadAsync(key, backend.Href, index, route.Backends.Length, ttl, checker.IsPassive);
        cache.Demote(key);
        _ = ObserveAsync(write, backend.Href);
    }

    private async Task ObserveAsync(Task write, string href)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            LogMarkFailed(logger, href, ex.Message);
        }
    }

    [LoggerMessage(EventId = 50, Level = LogLevel.Warning, Message = "Backend {Backend} (index {Index}) of {Identifier} marked dead: {Reason}")]
    private static partial void LogMarkedDead(ILogger logger, string backend, int index, string identifier, string reason);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "Could not record the dead mark of {Backend}: {Reason}")]
    private static partial void LogMarkFailed(ILogger logger, string backend, string reason);
}
