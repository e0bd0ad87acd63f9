using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Says which freshness mode the route cache is in and why, with its size: healthy in both modes
/// (poll is what a store without keyspace notifications offers), so that operators can see the
/// staleness bound that applies without reading logs.
/// </summary>
internal sealed class RouteCacheHealthCheck(ChangeFeed feed, RouteCache cache, DirectKeyspaceSubscriber direct, IOptions<RouterOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (mode, reason, changedAt) = feed.Describe();
        var o = options.Value;
        var lifetime = mode == ChangeFeedMode.Push ? o.RouteCachePushTtl : o.RouteCacheTtl;
        var description = mode == ChangeFeedMode.Push
            ? $"push: {reason}; changes are applied as they are published, entries live {lifetime}"
            : $"poll: {reason}; a change made without the change channel is served within {o.RouteCacheTtl}";
        var data = new Dictionary<string, object>
        {
            ["mode"] = mode == ChangeFeedMode.Push ? "push" : "poll",
            ["reason"] = reason,
            ["sinceSeconds"] = Math.Round((Environment.TickCount64 - changedAt) / 1000.0, 1),
            ["entryLifetime"] = lifetime.ToString(),
            ["directKeyspace"] = direct.Status,
            ["found"] = cache.FoundCount,
            ["notFound"] = cache.NotFoundCount,
        };
        return Task.FromResult(HealthCheckResult.Healthy(description, data));
    }
}
