using System.Text.Unicode;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Admin.Http;

/// <summary>
/// Refuses JSON request bodies that are not valid UTF-8 (RFC 8259 8.1) with 400 problem+json,
/// before any endpoint sees them. System.Text.Json validates a string only when it turns it into
/// a .NET string, so ill-formed bytes inside a property the endpoint does not bind (or inside a
/// value it skips) went through and the write was accepted. The body is read once, within the
/// admin API's body limit, and handed on rewound. Runs after authorization: only callers with a
/// key get their bodies buffered.
/// </summary>
internal sealed class Utf8BodyMiddleware(RequestDelegate next, IProblemDetailsService problems)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HasJsonBody(request))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        request.EnableBuffering();
        bool valid;
        using (var copy = new MemoryStream())
        {
            await request.Body.CopyToAsync(copy, context.RequestAborted).ConfigureAwait(false);
            valid = Utf8.IsValid(copy.GetBuffer().AsSpan(0, (int)copy.Length));
        }

        request.Body.Position = 0;
        if (valid)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Bad request",
                Detail = "The request body is not valid UTF-8: JSON text must be UTF-8 (RFC 8259). Nothing was written.",
            },
        }).ConfigureAwait(false);
    }

    private static bool HasJsonBody(HttpRequest request) =>
        (request.ContentLength > 0 || request.Headers.ContainsKey(HeaderNames.TransferEncoding))
        && request.ContentType is { } type
        && (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) || type.Contains("+json", StringComparison.OrdinalIgnoreCase));
}
