using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Request rules Kestrel leaves to the application, checked before routing (issue 13):
/// <list type="bullet">
/// <item>Content-Length must be <c>1*DIGIT</c> (RFC 9112 6.3 / RFC 9110 8.6): a sign, a space
/// inside, hex or a list make the framing unknowable for whoever reads the message next, so the
/// answer is 400 and the connection is closed. Leading zeros are digits and are accepted.</item>
/// <item>A request-target with <c>#</c> (RFC 9112 3.2: a fragment is not part of a request-target)
/// is 400 in Safe mode; Hipache mode forwards it as Hipache did (as <c>%23</c>, the closest an
/// HTTP client library can send, see <see cref="RawTarget"/>).</item>
/// <item>Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1) is faulty framing: 400.</item>
/// </list>
/// Each is a scan of a few bytes on the request path.
/// </summary>
internal static class RequestStrictness
{
    /// <summary>Why the request must be refused with 400 and the connection closed, or null.</summary>
    public static string? Violation(HttpContext context, bool hipacheMode)
    {
        var contentLength = context.Request.Headers[HeaderNames.ContentLength];
        if (contentLength.Count > 0 && !IsDigits(contentLength))
        {
            return "invalid Content-Length";
        }

        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message makes its framing faulty (an
        // HTTP/1.0 hop in front may have read the body another way); Kestrel reads it as chunked.
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

    private static bool IsDigits(Microsoft.Extensions.Primitives.StringValues values)
    {
        // Kestrel already refuses two different values; one field with a list ("5, 5") is a
        // single value here and is refused too.
        if (values.Count != 1 || values[0] is not { Length: > 0 } value)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
