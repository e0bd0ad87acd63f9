using System.Globalization;
using System.Text.RegularExpressions;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// A frontend's HTTPS behaviour, stored in its settings hash beside its balancing
/// (<see cref="RouteKeys.Balancing"/>, fields <c>https-redirect</c> = 1 and <c>hsts</c> = the
/// header's value): plain-HTTP requests are redirected (308, method and body kept) to HTTPS, and
/// responses over HTTPS carry <c>Strict-Transport-Security</c>.
/// </summary>
public sealed partial record HttpsPolicy(bool Redirect, string? Hsts)
{
    public const string RedirectField = "https-redirect";
    public const string HstsField = "hsts";

    /// <summary>Two years: the longest max-age the HSTS preload list asks for.</summary>
    public const long MaxAgeLimit = 63_072_000;

    /// <summary>The preload list's minimum max-age (one year).</summary>
    public const long PreloadMinimumMaxAge = 31_536_000;

    public static HttpsPolicy None { get; } = new(false, null);

    public bool IsNone => !Redirect && Hsts is null;

    /// <summary>The header value: <c>max-age=N[; includeSubDomains][; preload]</c>.</summary>
    public static string HstsValue(long maxAgeSeconds, bool includeSubDomains, bool preload) =>
        string.Create(CultureInfo.InvariantCulture, $"max-age={maxAgeSeconds}{(includeSubDomains ? "; includeSubDomains" : string.Empty)}{(preload ? "; preload" : string.Empty)}");

    /// <summary>A stored value is used only in the form this project writes (a hand-written one that is not is ignored).</summary>
    public static bool IsHstsValue(string? value) => value is not null && HstsPattern().IsMatch(value);

    /// <summary>max-age, includeSubDomains and preload of a value in the stored form.</summary>
    public static (long MaxAge, bool IncludeSubDomains, bool Preload) ParseHsts(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var match = HstsPattern().Match(value);
        return (long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Success, match.Groups[3].Success);
    }

    [GeneratedRegex("^max-age=([0-9]{1,9})(; includeSubDomains)?(; preload)?$")]
    private static partial Regex HstsPattern();
}
