using System.Diagnostics.Metrics;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router;

/// <summary>Observed values: how many hosts the route cache holds and whether Redis is reachable.</summary>
internal sealed class RouterGauges
{
    public RouterGauges(IMeterFactory meterFactory, RouteCache cache, RedisConnections connections)
    {
        var meter = meterFactory.Create(RouterMetrics.MeterName);
        meter.CreateObservableGauge("hipache.router.route_cache.entries", () => cache.Count, "{host}", "Hosts in the route cache, found and not found.");
        meter.CreateObservableGauge("hipache.router.store.connected", () => connections.IsConnected ? 1 : 0, "{state}", "1 while both Redis connections are up, else 0.");
    }
}
