using System.Text;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// What RFC 9110 asks of an intermediary beyond hop-by-hop headers, shared by both forwarders:
/// <list type="bullet">
/// <item>Max-Forwards (7.6.2): on TRACE and OPTIONS, a value of 0 is answered by the router as the
/// final recipient; a larger one is forwarded decremented. Other methods ignore it.</item>
/// <item>Via (7.6.3): with Router:Via set, <c>1.1 &lt;pseudonym&gt;</c> is appended to the request's
/// Via. Off by default, as in nginx, HAProxy and Traefik: nginx backends stop compressing
/// responses to requests that carry Via (<c>gzip_proxied off</c>).</item>
/// </list>
/// </summary>
internal static class IntermediaryHeaders
{
    public static bool HasMaxForwards(string method) => HttpMethods.IsTrace(method) || HttpMethods.IsOptions(method);

    /// <summary>The request's Max-Forwards, or -1 when absent or not a number (then forwarded as it is).</summary>
    public static long MaxForwards(HttpRequest request)
    {
        var values = request.Headers[HeaderNames.MaxForwards];
        if (values.Count != 1 || values[0] is not { Length: > 0 and <= 18 } text)
        {
            return -1;
        }

        long value = 0;
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return -1;
            }

            value = (value * 10) + (c - '0');
        }

        return value;
    }

    /// <summary>The Max-Forwards to send on, for TRACE and OPTIONS with a positive value; null otherwise.</summary>
    public static string? ForwardedMaxForwards(HttpRequest request) =>
        HasMaxForwards(request.Method) && MaxForwards(request) is > 0 and var value
            ? (value - 1).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>
    /// The router's answer as the final recipient of a TRACE with Max-Forwards 0: the request as
    /// received (RFC 9110 9.3.8), without the fields that carry credentials.
    /// </summary>
    public static byte[] TraceEcho(HttpContext context, string target)
    {
        var request = context.Request;
        var echo = new StringBuilder();
        echo.Append(request.Method).Append(' ').Append(target).Append(' ').Append(request.Protocol).Append("\r\n");
        foreach (var (name, values) in request.Headers)
        {
            if (string.Equals(name, HeaderNames.Authorization, StringComparison.OrdinalIgnoreCase)
                || string.Equals(name, HeaderNames.ProxyAuthorization, StringComparison.OrdinalIgnoreCase)
                || string.Equals(name, HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var value in values)
            {
                echo.Append(name).Append(": ").Append(value).Append("\r\n");
            }
        }

        return Encoding.UTF8.GetBytes(echo.Append("\r\n").ToString());
    }

    /// <summary>A Via pseudonym is a token (RFC 9110 7.6.3, 5.6.2).</summary>
    public static bool IsValidPseudonym(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));
}
