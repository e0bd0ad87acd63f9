using Hipache.Aspire.Admin.Routers;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>The router registry, with a fence sent now to measure each router's change lag (as GET /v1/routers).</summary>
public sealed class RoutersModel : PageModel
{
    public IReadOnlyList<RouterView> Routers { get; private set; } = [];

    public double ProbeTimeoutMs { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var list = await HttpContext.RequestServices.GetRequiredService<RouterListing>().ListAsync(cancellationToken).ConfigureAwait(false);
        Routers = list.Routers;
        ProbeTimeoutMs = list.ProbeTimeoutMs;
    }
}
