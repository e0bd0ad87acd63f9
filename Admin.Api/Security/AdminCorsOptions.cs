using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Security;

/// <summary>
/// Bound from <c>Admin:Cors</c>. Empty (the default) means no CORS at all: browsers refuse
/// cross-origin calls, which is right for an API driven by curl, scripts and its own reference page.
/// </summary>
internal sealed class AdminCorsOptions
{
    public const string SectionName = "Admin:Cors";

    /// <summary>Origins (<c>https://admin.example.com</c>, no path) whose pages may call the API, or <c>*</c> for any.</summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>
    /// Send <c>Access-Control-Allow-Credentials</c>. The bearer key does not need it (a page sets
    /// the header itself); only cookies added by a front proxy (single sign-on) do.
    /// </summary>
    public bool AllowCredentials { get; set; }
}

internal sealed class AdminCorsOptionsValidator : IValidateOptions<AdminCorsOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminCorsOptions options)
    {
        var errors = new List<string>();
        for (var i = 0; i < options.AllowedOrigins.Count; i++)
        {
            var origin = options.AllowedOrigins[i];
            if (origin == "*")
            {
                if (options.AllowCredentials)
                {
                    // Browsers refuse the pair, and allowing it would hand any site the callers' cookies.
                    errors.Add($"Admin:Cors:AllowedOrigins:{i} is '*' while Admin:Cors:AllowCredentials is true: name the origins instead.");
                }
            }
            else if (!IsOrigin(origin))
            {
                errors.Add($"Admin:Cors:AllowedOrigins:{i} ('{origin}') is not an origin: scheme http or https, a host, an optional port, nothing after it.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>An origin as a browser sends it (RFC 6454): no path, query, fragment or user info, no trailing slash.</summary>
    internal static bool IsOrigin(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https"
        && uri.Host.Length > 0
        && uri.UserInfo.Length == 0
        && string.Equals(value, uri.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);
}
