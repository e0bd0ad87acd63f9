using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>Frontends: a search over hosts (SCAN, paged as the API pages) and a form to create one.</summary>
public sealed class IndexModel : PageModel
{
    private const int PageSize = 50;

    [BindProperty(SupportsGet = true)]
    public string? Match { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    [BindProperty]
    public string? NewHost { get; set; }

    [BindProperty]
    public string? NewApp { get; set; }

    [BindProperty]
    public string? NewBackends { get; set; }

    public IReadOnlyList<Frontend> Items { get; private set; } = [];

    public string? Next { get; private set; }

    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var match = string.IsNullOrWhiteSpace(Match) ? "*" : Match.Trim();
        if (!RouteValidation.IsValidMatch(match, out var matchError))
        {
            Error = matchError;
            return;
        }

        if (!ScanPosition.TryDecode(Cursor, out var position))
        {
            Error = "That page link is not one this console made; start the search again.";
            return;
        }

        var page = await HttpContext.RequestServices.GetRequiredService<RouteReader>().ScanFrontendsAsync(match, position, PageSize, cancellationToken).ConfigureAwait(false);
        Items = [.. page.Items.OrderBy(f => f.Key, StringComparer.Ordinal)];
        Next = page.Next?.Encode();
    }

    public async Task<IActionResult> OnPostCreateAsync(CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.TryNormalizeHost(NewHost, out var key, out var hostError))
        {
            errors["host"] = [hostError!];
        }

        if (!RouteValidation.IsValidApp(NewApp, out var appError))
        {
            errors["app"] = [appError!];
        }

        var urls = (NewBackends ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var backends = RouteValidation.NormalizeBackends(urls, errors);
        if (errors.Count == 0)
        {
            var writer = HttpContext.RequestServices.GetRequiredService<RouteWriter>();
            // Create only: an existing frontend is not replaced from here (its page edits it).
            if (await HttpContext.RequestServices.GetRequiredService<RouteReader>().GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is not null)
            {
                errors["host"] = [$"'{key}' exists already: open it to change it."];
            }
            else
            {
                var result = await writer.WriteFrontendAsync(key, NewApp!, backends, FrontendCondition.None, cancellationToken).ConfigureAwait(false);
                HttpContext.RequestServices.GetRequiredService<AdminAudit>().Record(User, "console-create-frontend", key, result.Outcome);
                await HttpContext.RequestServices.GetRequiredService<AppRegistry>().TrackAsync(key, NewApp!, result.PreviousIdentifier, cancellationToken).ConfigureAwait(false);
                return Redirect($"/console/frontends/{Uri.EscapeDataString(key)}?done=created");
            }
        }

        Error = string.Join(" ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"));
        await OnGetAsync(cancellationToken).ConfigureAwait(false);
        Response.StatusCode = StatusCodes.Status400BadRequest;
        return Page();
    }
}
