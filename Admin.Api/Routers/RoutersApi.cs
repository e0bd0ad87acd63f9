using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Routers;

/// <summary><c>/v1/routers</c>: the live routers on this routing table (the router registry).</summary>
internal static class RoutersApi
{
    public static RouteGroupBuilder MapRoutersApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1/routers").WithTags("Routers").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/", ListAsync).WithName("ListRouters")
            .WithSummary("Lists the live routers, each with how long it took to answer a fence sent now (its change lag).");
        return group;
    }

    private static async Task<IResult> ListAsync(RouterRegistry registry, RouterFence fence, IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        var routers = await registry.ListLiveAsync(cancellationToken).ConfigureAwait(false);
        var timeout = options.Value.RouterProbeTimeout;
        var outcome = await fence.ConfirmAsync([.. routers.Select(r => r.Id)], timeout, cancellationToken).ConfigureAwait(false);
        var lags = outcome.Confirmed.ToDictionary(c => c.Id, c => c.AfterMs, StringComparer.Ordinal);
        var views = routers.Select(r => new RouterView(
            r.Id, r.Version, r.Addresses, r.Management, r.StartedAt, r.HeartbeatAt, r.CachedRoutes, r.StoreMode, r.LastChange, r.LastChangeAt,
            lags.TryGetValue(r.Id, out var lag) ? lag : null)).ToArray();
        return TypedResults.Ok(new RouterList(views, timeout.TotalMilliseconds));
    }
}
