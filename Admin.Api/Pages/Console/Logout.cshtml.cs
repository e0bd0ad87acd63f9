using Hipache.Aspire.Admin.Console;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Hipache.Aspire.Admin.Pages.Console;

/// <summary>POST only (with the antiforgery token), so that a link elsewhere cannot sign anyone out.</summary>
public sealed class LogoutModel : PageModel
{
    public IActionResult OnGet() => Redirect("/console");

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(ConsoleAuthentication.SchemeName).ConfigureAwait(false);
        return Redirect("/console/login");
    }
}
