using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Validation;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>Apps: the index pages in name order, with a form to create or replace one and a delete per app.</summary>
public sealed class AppsModel : PageModel
{
    private const int PageSize = 50;

    [BindProperty(SupportsGet = true)]
    public string? After { get; set; }

    [BindProperty]
    public string? Name { get; set; }

    [BindProperty]
    public string? Hosts { get; set; }

    [BindProperty]
    public string? Backends { get; set; }

    public IReadOnlyList<AppView> Items { get; private set; } = [];

    public string? Next { get; private set; }

    public string? Error { get; private set; }

    private AppRegistry Registry => HttpContext.RequestServices.GetRequiredService<AppRegistry>();

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var (items, last, more) = await Registry.ListAsync(After, PageSize, cancellationToken).ConfigureAwait(false);
        Items = items;
        Next = more ? last : null;
    }

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.IsValidApp(Name, out var appError))
        {
            errors["name"] = [appError!];
        }

        var hosts = RouteValidation.NormalizeHosts(Lines(Hosts), errors);
        if (hosts.Count == 0 && !errors.ContainsKey("hosts"))
        {
            errors["hosts"] = ["Give at least one host."];
        }

        var backends = RouteValidation.NormalizeBackends(Lines(Backends), errors);
        if (errors.Count == 0)
        {
            var result = await Registry.PutAsync(Name!, hosts, backends, takeover: false, cancellationToken).ConfigureAwait(false);
            HttpContext.RequestServices.GetRequiredService<AdminAudit>().Record(User, "console-put-app", Name!, result.Outcome.ToString().ToLowerInvariant());
            if (result.Outcome != AppPutOutcome.Conflict)
            {
                return Redirect("/console/apps");
            }

            errors["hosts"] = [$"Owned by other apps: {string.Join(", ", result.Owners.Select(o => $"{o.Key} ({o.Value})"))}. Nothing was written."];
        }

        Error = string.Join(" ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"));
        await OnGetAsync(cancellationToken).ConfigureAwait(false);
        Response.StatusCode = errors.ContainsKey("hosts") && hosts.Count > 0 ? StatusCodes.Status409Conflict : StatusCodes.Status400BadRequest;
        return Page();
    }

    public async Task<IActionResult> OnPostDeleteAsync(CancellationToken cancellationToken)
    {
        if (!RouteValidation.IsValidApp(Name, out var appError))
        {
            Error = appError;
            await OnGetAsync(cancellationToken).ConfigureAwait(false);
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        var deleted = await Registry.DeleteAsync(Name!, cancellationToken).ConfigureAwait(false);
        HttpContext.RequestServices.GetRequiredService<AdminAudit>().Record(User, "console-delete-app", Name!, deleted is null ? "not-found" : "deleted");
        return Redirect("/console/apps");
    }

    private static string[] Lines(string? text) => (text ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
