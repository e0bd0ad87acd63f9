using System.Collections.Concurrent;
using System.Text;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// The router's own answers (hipache-compat section 7): <c>error_&lt;status&gt;.html</c>, else
/// <c>error_default.html</c>, else the message as plain text; 200 always as text. Pages are read
/// from <see cref="RouterOptions.StaticDir"/> (default: the bundled ones) and re-read at most once
/// a second, so that an operator can change them without a restart while an error flood does not
/// become a disk flood. A gRPC call gets its answer the gRPC way instead (<see cref="GrpcAnswer"/>).
/// </summary>
internal sealed class ErrorPageWriter
{
    private static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(1);

    private readonly string _directory;
    private readonly ConcurrentDictionary<int, CachedPage> _pages = new();

    public ErrorPageWriter(IOptions<RouterOptions> options)
    {
        var configured = options.Value.StaticDir;
        _directory = string.IsNullOrWhiteSpace(configured) ? Path.Combine(AppContext.BaseDirectory, "ErrorPages") : Path.GetFullPath(configured);
    }

    /// <param name="header">One header the answer needs (Allow on a 405, Retry-After on a 503), set after the clearing.</param>
    /// <param name="grpc">
    /// The gRPC status when the request is a gRPC call and the HTTP-to-gRPC table says less than
    /// the router knows (an unknown host is Unimplemented whatever <c>UnknownHostStatus</c> is).
    /// </param>
    public Task WriteAsync(HttpContext context, int status, string message, KeyValuePair<string, string>? header = null, GrpcStatus? grpc = null)
    {
        var response = context.Response;
        // A failed attempt may have copied some of the backend's headers (a Content-Length...).
        response.Clear();
        response.StatusCode = status;
        var headers = response.Headers;
        headers.CacheControl = "no-cache";
        headers.Pragma = "no-cache";
        headers.Expires = "-1";
        if (header is { } extra)
        {
            headers[extra.Key] = extra.Value;
        }

        var trace = context.Features.Get<RequestTrace>();
        trace?.WriteDebugHeaders(headers, message);
        if (status != StatusCodes.Status200OK && GrpcAnswer.IsGrpc(context.Request))
        {
            // The access log keeps the router's decision (a 502 is a 502), not the 200 on the wire.
            trace?.AnsweredStatus = status;
            GrpcAnswer.Write(response, grpc ?? GrpcAnswer.FromHttpStatus(status), message);
            return Task.CompletedTask;
        }

        var page = status == StatusCodes.Status200OK ? null : FindPage(status);
        var head = HttpMethods.IsHead(context.Request.Method);
        byte[] body;
        if (page is null)
        {
            body = Encoding.UTF8.GetBytes(message);
            response.ContentType = "text/plain";
            response.ContentLength = body.Length;
        }
        else
        {
            body = page;
            response.ContentType = "text/html";
        }

        if (head)
        {
            return Task.CompletedTask;
        }

        if (trace is not null)
        {
            trace.ResponseBytes += body.Length;
        }

        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private byte[]? FindPage(int status)
    {
        var now = Environment.TickCount64;
        if (_pages.TryGetValue(status, out var cached) && now - cached.ReadAt < RefreshInterval.TotalMilliseconds)
        {
            return cached.Content;
        }

        var content = TryRead($"error_{status}.html") ?? TryRead("error_default.html");
        _pages[status] = new CachedPage(content, now);
        return content;
    }

    private byte[]? TryRead(string fileName)
    {
        try
        {
            var path = Path.Combine(_directory, fileName);
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed record CachedPage(byte[]? Content, long ReadAt);
}
