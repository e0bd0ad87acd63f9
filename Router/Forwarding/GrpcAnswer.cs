using System.Globalization;
using System.Text;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>The gRPC status codes the router answers with (grpc/doc/statuscodes.md).</summary>
internal enum GrpcStatus
{
    Unknown = 2,
    DeadlineExceeded = 4,
    PermissionDenied = 7,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// <summary>
/// The router's own error answers to a gRPC client. A gRPC client reads the outcome of a call
/// from <c>grpc-status</c>, not from the HTTP status, and takes an HTML page for a broken
/// server: so the answer is a "trailers-only" response (gRPC over HTTP/2, "Responses"): HTTP
/// 200, <c>content-type: application/grpc</c>, <c>grpc-status</c> and <c>grpc-message</c> in the
/// one header block, no body.
/// </summary>
internal static class GrpcAnswer
{
    public const string ContentType = "application/grpc";

    /// <summary>
    /// <c>application/grpc</c>, alone or with a subtype (<c>+proto</c>, <c>+json</c>) or
    /// parameters. Not <c>application/grpc-web</c>: its clients read trailers from the body.
    /// </summary>
    public static bool IsGrpc(HttpRequest request)
    {
        var contentType = request.Headers[HeaderNames.ContentType];
        if (contentType.Count != 1 || contentType[0] is not { } value || !value.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return value.Length == ContentType.Length || value[ContentType.Length] is '+' or ';';
    }

    /// <summary>
    /// The gRPC spec's "HTTP to gRPC Status Code Mapping" (doc/http-grpc-status-mapping.md):
    /// what a gRPC client itself makes of a non-200 HTTP answer, so that a client gets the same
    /// code whether the router answers the gRPC way or not.
    /// </summary>
    public static GrpcStatus FromHttpStatus(int status) => status switch
    {
        StatusCodes.Status400BadRequest => GrpcStatus.Internal,
        StatusCodes.Status401Unauthorized => GrpcStatus.Unauthenticated,
        StatusCodes.Status403Forbidden => GrpcStatus.PermissionDenied,
        StatusCodes.Status404NotFound => GrpcStatus.Unimplemented,
        StatusCodes.Status429TooManyRequests or StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout => GrpcStatus.Unavailable,
        _ => GrpcStatus.Unknown,
    };

    /// <summary>Writes the trailers-only answer's headers (the caller has cleared the response); the response then ends without a body.</summary>
    public static void Write(HttpResponse response, GrpcStatus status, string message)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        var headers = response.Headers;
        headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
        headers["grpc-message"] = EncodeMessage(message);
    }

    /// <summary>
    /// grpc-message is percent-encoded UTF-8: bytes outside printable ASCII and <c>%</c> itself
    /// (gRPC over HTTP/2, "Status-Message").
    /// </summary>
    public static string EncodeMessage(string message)
    {
        var plain = true;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return message;
        }

        var encoded = new StringBuilder(message.Length + 16);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            if (b is < (byte)' ' or > (byte)'~' or (byte)'%')
            {
                encoded.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                encoded.Append((char)b);
            }
        }

        return encoded.ToString();
    }
}
