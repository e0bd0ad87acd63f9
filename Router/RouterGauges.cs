using System.Diagnostics.Metrics;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router;

/// <summary>Observed values: how many keys the route cache holds, its change-feed mode and whether Redis is reachable.</summary>
internal sealed class RouterGauges
{
    public RouterGauges(IMeterFactory meterFactory, RouteCache cache, ChangeFeed feed, RedisConnections connections)
    {
        var meter = meterFactory.Create(RouterMetrics.MeterName);
        meter.CreateObservableGauge(
            "hipache.router.route_cache.entries",
            () => new[] { new Measurement<int>(cache.FoundCount, new KeyValuePair<string, object?>("hipache.cache.kind", "found")), new Measurement<int>(cache.NotFoundCount, new KeyValuePair<string, object?>("hipache.cache.kind", "not_found")) },
            "{key}",
            "Frontend keys in the route cache, found and not found.");
        meter.CreateObservableGauge("hipache.router.route_cache.push_mode", () => feed.Mode == ChangeFeedMode.Push ? 1 : 0, "{state}", "1 while the router knows every change reaches it (long cache lifetime), 0 in poll mode.");
        meter.CreateObservableGauge("hipache.router.store.connected", () => connections.IsConnected ? 1 : 0, "{state}", "1 while both Redis connections are up, else 0.");
    }
}
