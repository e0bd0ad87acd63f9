using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Request rules Kestrel leaves to the application, checked before routing (issue 13):
/// <list type="bullet">
/// <item>Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1) is faulty framing: an HTTP/1.0
/// hop in front may have read the body another way, and Kestrel reads it as chunked.</item>
/// <item>A request-target with <c>#</c> (RFC 9112 3.2: a fragment is not part of a request-target)
/// is refused in Safe mode; Hipache mode forwards it as Hipache did (as <c>%23</c>, the closest an
/// HTTP client library can send, see <see cref="RawTarget"/>).</item>
/// </list>
/// Both are answered 400 with the connection closed. A Content-Length that is not digits is
/// refused by Kestrel itself (400), except a leading <c>+</c>, which Kestrel reads as the number
/// and hides: the application only ever sees the parsed value, so the router cannot tell.
/// </summary>
internal static class RequestStrictness
{
    /// <summary>Why the request must be refused with 400 and the connection closed, or null.</summary>
    public static string? Violation(HttpContext context, bool hipacheMode)
    {
        if (HttpProtocol.IsHttp10(context.Request.Protocol) && context.Request.Headers.ContainsKey(HeaderNames.TransferEncoding))
        {
            return "Transfer-Encoding in an HTTP/1.0 request";
        }

        if (!hipacheMode && context.Features.Get<IHttpRequestFeature>()?.RawTarget is { } target && target.Contains('#', StringComparison.Ordinal))
        {
            return "'#' is not allowed in a request target";
        }

        return null;
    }
}
