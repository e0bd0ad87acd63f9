using Microsoft.AspNetCore.Http.HttpResults;

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

    private static async Task<Ok<RouterList>> ListAsync(RouterListing listing, CancellationToken cancellationToken) =>
        TypedResults.Ok(await listing.ListAsync(cancellationToken).ConfigureAwait(false));
}
