using Microsoft.AspNetCore.Http.Features;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Hipache forwards the request-target byte for byte (hipache-compat 5.2; C14: even
/// <c>/pipo&amp;%$#(PIPO</c>). YARP rebuilds the path from the decoded one and re-escapes it, which
/// changes targets with percent-escapes or unusual characters. For those (rare) targets the
/// client's raw target is sent instead, without canonicalisation; '#', which cannot travel in a
/// URI's path, goes as %23. Absolute-form targets are reduced to path and query.
/// </summary>
internal static class RawTarget
{
    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public static void Apply(HttpContext context, HttpRequestMessage proxyRequest, string destinationPrefix)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || !NeedsVerbatim(raw))
        {
            return;
        }

        if (raw[0] != '/')
        {
            // Absolute form: http://authority/path?query -> /path?query.
            var schemeEnd = raw.IndexOf("://", StringComparison.Ordinal);
            if (schemeEnd < 0)
            {
                return;
            }

            var pathStart = raw.IndexOf('/', schemeEnd + 3);
            raw = pathStart < 0 ? "/" : raw[pathStart..];
        }

        proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + raw.Replace("#", "%23", StringComparison.Ordinal), Verbatim);
    }

    /// <summary>True when the target has a percent-escape or a character YARP would escape differently.</summary>
    private static bool NeedsVerbatim(string raw)
    {
        foreach (var c in raw)
        {
            if (c is '%' or '#' || c <= ' ' || c >= 0x7f || c is '"' or '<' or '>' or '\\' or '^' or '`' or '{' or '|' or '}')
            {
                return true;
            }
        }

        return false;
    }
}
