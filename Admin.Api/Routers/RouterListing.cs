using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Routers;

/// <summary>The live routers with each one's change lag, measured by a fence sent now: for GET /v1/routers and the console.</summary>
internal sealed class RouterListing(RouterRegistry registry, RouterFence fence, IOptions<AdminOptions> options)
{
    public async Task<RouterList> ListAsync(CancellationToken cancellationToken)
    {
        var routers = await registry.ListLiveAsync(cancellationToken).ConfigureAwait(false);
        var timeout = options.Value.RouterProbeTimeout;
        var outcome = await fence.ConfirmAsync([.. routers.Select(r => r.Id)], timeout, cancellationToken).ConfigureAwait(false);
        var lags = outcome.Confirmed.ToDictionary(c => c.Id, c => c.AfterMs, StringComparer.Ordinal);
        return new RouterList([.. routers.Select(r => RouterView.Of(r, lags.TryGetValue(r.Id, out var lag) ? lag : null))], timeout.TotalMilliseconds);
    }
}
