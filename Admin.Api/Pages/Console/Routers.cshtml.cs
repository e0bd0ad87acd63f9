using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.Admin.Routers;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>The router registry, with a fence sent now to measure each router's change lag (as GET /v1/routers).</summary>
public sealed class RoutersModel : PageModel
{
    public IReadOnlyList<RouterView> Routers { get; private set; } = [];

    public double ProbeTimeoutMs { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var services = HttpContext.RequestServices;
        var timeout = services.GetRequiredService<IOptions<AdminOptions>>().Value.RouterProbeTimeout;
        var routers = await services.GetRequiredService<RouterRegistry>().ListLiveAsync(cancellationToken).ConfigureAwait(false);
        var outcome = await services.GetRequiredService<RouterFence>().ConfirmAsync([.. routers.Select(r => r.Id)], timeout, cancellationToken).ConfigureAwait(false);
        var lags = outcome.Confirmed.ToDictionary(c => c.Id, c => c.AfterMs, StringComparer.Ordinal);
        Routers = [.. routers.Select(r => new RouterView(r.Id, r.Version, r.Addresses, r.Management, r.StartedAt, r.HeartbeatAt, r.CachedRoutes, r.StoreMode, r.LastChange, r.LastChangeAt,
            lags.TryGetValue(r.Id, out var lag) ? lag : null))];
        ProbeTimeoutMs = timeout.TotalMilliseconds;
    }
}
