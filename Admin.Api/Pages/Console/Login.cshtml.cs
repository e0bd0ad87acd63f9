using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.Admin.Console;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Pages.Console;

[AllowAnonymous]
public sealed class LoginModel : PageModel
{
    [BindProperty]
    public string? Key { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        var keys = HttpContext.RequestServices.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.ApiKeys;
        var index = string.IsNullOrEmpty(Key) ? -1 : ApiKeyMatcher.Match(Key, keys);
        if (index < 0)
        {
            // Counted and logged like a refused API call (one warning per interval).
            HttpContext.RequestServices.GetRequiredService<FailedAuthCounter>().Record(HttpContext.Connection.RemoteIpAddress, !string.IsNullOrEmpty(Key));
            Error = "That is not an admin API key.";
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Page();
        }

        await HttpContext.SignInAsync(ConsoleAuthentication.SchemeName, ConsoleAuthentication.PrincipalFor(index, keys[index])).ConfigureAwait(false);
        return LocalRedirect(ReturnUrl is { } back && Url.IsLocalUrl(back) && back.StartsWith("/console", StringComparison.Ordinal) ? back : "/console");
    }
}
