using System.Security.Claims;
using Hipache.Aspire.Admin.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Console;

/// <summary>
/// Sign-in for the web console: an admin key entered once, then a session cookie (encrypted and
/// signed by ASP.NET Core Data Protection, HttpOnly, SameSite=Strict) that holds the key's name and
/// fingerprint, never the key. A session ends when its key is removed from Admin:ApiKeys.
/// </summary>
internal static class ConsoleAuthentication
{
    public const string SchemeName = "Console";
    public const string PolicyName = "Console";
    private const string FingerprintClaim = "hipache:key-fingerprint";

    public static IServiceCollection AddConsoleAuthentication(this AuthenticationBuilder authentication, IServiceCollection services)
    {
        authentication.AddCookie(SchemeName, cookie =>
        {
            cookie.Cookie.Name = "hipache_console";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.Cookie.Path = "/console";
            cookie.LoginPath = "/console/login";
            cookie.LogoutPath = "/console/logout";
            cookie.AccessDeniedPath = "/console/login";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
            cookie.Events.OnValidatePrincipal = ValidateAsync;
        });
        services.AddAuthorizationBuilder().AddPolicy(PolicyName, policy => policy.AddAuthenticationSchemes(SchemeName).RequireAuthenticatedUser());
        return services;
    }

    /// <summary>The principal of a session for key number <paramref name="index"/>.</summary>
    public static ClaimsPrincipal PrincipalFor(int index, string key) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, $"key-{index}"), new Claim(FingerprintClaim, ApiKeyMatcher.Fingerprint(key))], SchemeName));

    private static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var fingerprint = context.Principal?.FindFirst(FingerprintClaim)?.Value;
        var keys = context.HttpContext.RequestServices.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.ApiKeys;
        if (fingerprint is null || !keys.Any(k => string.Equals(ApiKeyMatcher.Fingerprint(k), fingerprint, StringComparison.Ordinal)))
        {
            // The key was rotated out: so is every session opened with it.
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(SchemeName).ConfigureAwait(false);
        }
    }
}
