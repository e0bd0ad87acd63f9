using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Routers;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>
/// One frontend: backends with dead marks and health, and the edits. Every edit carries the
/// version (ETag) the page showed, so a change made meanwhile by anyone (another editor, the API,
/// redis-cli) is not overwritten: the page says so and shows the current state instead.
/// </summary>
public sealed class FrontendModel : PageModel
{
    [FromRoute(Name = "host")]
    public string Host { get; set; } = string.Empty;

    [BindProperty]
    public string? Backend { get; set; }

    [BindProperty]
    public string? Tag { get; set; }

    [FromQuery(Name = "done")]
    public string? DoneCode { get; set; }

    public string Key { get; private set; } = string.Empty;

    public Frontend? Frontend { get; private set; }

    public string Policy { get; private set; } = "random";

    public IReadOnlySet<int> Dead { get; private set; } = new HashSet<int>();

    public DateTimeOffset? DeadUntil { get; private set; }

    public IReadOnlyList<ProbeResult?> Probes { get; private set; } = [];

    /// <summary>Requests routed for this frontend in the last full second, summed over the routers that answered.</summary>
    public long? RequestRate { get; private set; }

    public int RatesAnswered { get; private set; }

    public int RoutersLive { get; private set; }

    public string? Conflict { get; private set; }

    public string? Error { get; private set; }

    public string? Done { get; private set; }

    private RouteReader Reader => HttpContext.RequestServices.GetRequiredService<RouteReader>();

    private RouteWriter Writer => HttpContext.RequestServices.GetRequiredService<RouteWriter>();

    private AdminAudit Audit => HttpContext.RequestServices.GetRequiredService<AdminAudit>();

    public async Task<IActionResult> OnGetAsync(CancellationToken cancellationToken)
    {
        if (!Normalize())
        {
            return Page();
        }

        Done = DoneCode switch
        {
            "created" => "Created.",
            "added" => "Backend added.",
            "removed" => "Backend removed.",
            "cleared" => "Dead marks cleared.",
            _ => null,
        };
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        if (Frontend is null)
        {
            Response.StatusCode = StatusCodes.Status404NotFound;
        }

        return Page();
    }

    public Task<IActionResult> OnPostAddBackendAsync(CancellationToken cancellationToken) =>
        EditAsync("add-backend", "added", async (key, url, condition) => await Writer.AddBackendAsync(key, url, condition, cancellationToken).ConfigureAwait(false), cancellationToken);

    public Task<IActionResult> OnPostRemoveBackendAsync(CancellationToken cancellationToken) =>
        EditAsync("remove-backend", "removed", async (key, url, condition) => await Writer.RemoveBackendAsync(key, url, condition, cancellationToken).ConfigureAwait(false), cancellationToken);

    public async Task<IActionResult> OnPostClearDeadAsync(CancellationToken cancellationToken)
    {
        if (!Normalize())
        {
            return Page();
        }

        var cleared = await Writer.ClearAllDeadAsync(Key, cancellationToken).ConfigureAwait(false);
        Audit.Record(User, "console-clear-dead", Key, cleared ? "cleared" : "none");
        return Redirect($"/console/frontends/{Uri.EscapeDataString(Key)}?done=cleared");
    }

    public async Task<IActionResult> OnPostDeleteAsync(CancellationToken cancellationToken)
    {
        if (!Normalize())
        {
            return Page();
        }

        var result = await Writer.DeleteFrontendAsync(Key, new FrontendCondition(Tag, null), cancellationToken).ConfigureAwait(false);
        Audit.Record(User, "console-delete-frontend", Key, result.Outcome);
        switch (result.Outcome)
        {
            case FrontendOutcome.Deleted:
                await HttpContext.RequestServices.GetRequiredService<AppRegistry>().TrackAsync(Key, null, result.PreviousIdentifier, cancellationToken).ConfigureAwait(false);
                return Redirect("/console");
            case FrontendOutcome.NotFound:
                Conflict = "It was deleted meanwhile.";
                break;
            default:
                Conflict = "It was not deleted.";
                break;
        }

        return await ReloadAsync(StatusCodes.Status409Conflict, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IActionResult> EditAsync(string operation, string done, Func<string, string, FrontendCondition, Task<FrontendWriteResult>> edit, CancellationToken cancellationToken)
    {
        if (!Normalize())
        {
            return Page();
        }

        if (!RouteValidation.TryNormalizeBackend(Backend, out var url, out var urlError))
        {
            Error = $"Backend URL: {urlError}";
            return await ReloadAsync(StatusCodes.Status400BadRequest, cancellationToken).ConfigureAwait(false);
        }

        var result = await edit(Key, url, new FrontendCondition(Tag, null)).ConfigureAwait(false);
        Audit.Record(User, "console-" + operation, Key, result.Outcome);
        switch (result.Outcome)
        {
            case FrontendOutcome.PreconditionFailed:
                Conflict = $"Your change ({operation.Replace('-', ' ')} {url}) was not applied.";
                return await ReloadAsync(StatusCodes.Status409Conflict, cancellationToken).ConfigureAwait(false);
            case FrontendOutcome.NotFound:
                Conflict = "The frontend was deleted meanwhile.";
                return await ReloadAsync(StatusCodes.Status409Conflict, cancellationToken).ConfigureAwait(false);
            case FrontendOutcome.BackendNotFound:
                Error = $"{url} is not a backend of this frontend.";
                return await ReloadAsync(StatusCodes.Status404NotFound, cancellationToken).ConfigureAwait(false);
            default:
                return Redirect($"/console/frontends/{Uri.EscapeDataString(Key)}?done={done}");
        }
    }

    private async Task<IActionResult> ReloadAsync(int status, CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        Response.StatusCode = status;
        return Page();
    }

    private bool Normalize()
    {
        if (RouteValidation.TryNormalizeHost(Host, out var key, out var error))
        {
            Key = key;
            return true;
        }

        Key = Host;
        Error = $"Not a frontend host: {error}";
        Response.StatusCode = StatusCodes.Status400BadRequest;
        return false;
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var tagged = await Reader.GetTaggedFrontendAsync(Key, cancellationToken).ConfigureAwait(false);
        Frontend = tagged?.Frontend;
        // Edits made from the page carry the version it shows (a stale one is refused).
        Tag = tagged?.Tag;
        if (Frontend is null)
        {
            return;
        }

        var (dead, expiresAt) = await Reader.GetDeadAsync(Key, cancellationToken).ConfigureAwait(false);
        Dead = dead;
        DeadUntil = expiresAt;
        var balancing = await Reader.GetBalancingAsync(Key, cancellationToken).ConfigureAwait(false);
        Policy = Balancing.Name(balancing.Policy);
        Probes = await Reader.GetProbeResultsAsync([.. Frontend.Backends.Select(url => Balancing.ProbeTarget(url, balancing.HealthPath))], cancellationToken).ConfigureAwait(false);

        // Live request rate: each router counts what it routed by this key; a router that does not
        // answer within half a second is left out (and said so).
        var routers = await HttpContext.RequestServices.GetRequiredService<RouterRegistry>().ListLiveAsync(cancellationToken).ConfigureAwait(false);
        RoutersLive = routers.Count;
        if (routers.Count > 0)
        {
            var rates = await HttpContext.RequestServices.GetRequiredService<RouterFence>()
                .QueryRateAsync([.. routers.Select(r => r.Id)], Key, TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            RatesAnswered = rates.Values.Count;
            RequestRate = rates.Values.Count > 0 ? rates.Values.Values.Sum() : null;
        }
    }
}
