using Microsoft.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin;

/// <summary>
/// Turns the two failures a client can do something about into problem+json: Redis unreachable or
/// refusing writes mid-failover (503 with Retry-After) and unreadable request bodies (400). A 503 to a write cannot promise that
/// nothing was written: Redis may have run the script and died before its answer arrived. What it
/// can promise is that the frontend is in its old state or its new one, never in between (each
/// write is one script or transaction), and repeating the request is safe (PUT and POST are idempotent).
/// </summary>
internal sealed partial class StoreExceptionHandler(IProblemDetailsService problems, ILogger<StoreExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        int status;
        string title;
        string detail;
        switch (exception)
        {
            case RedisConnectionException or RedisTimeoutException or TimeoutException:
            case RedisServerException server when IsTransient(server.Message):
                status = StatusCodes.Status503ServiceUnavailable;
                title = "Routing table unavailable";
                detail = HttpMethods.IsGet(httpContext.Request.Method) || HttpMethods.IsHead(httpContext.Request.Method)
                    ? "Redis did not answer. Retry later."
                    : "Redis did not answer, so the change may or may not have been applied (never in part). Retry later; repeating it is safe.";
                httpContext.Response.Headers.RetryAfter = "2";
                LogStoreDown(logger, exception.Message);
                break;
            case BadHttpRequestException bad:
                status = bad.StatusCode;
                title = "Bad request";
                detail = bad.Message;
                break;
            default:
                return false;
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Refusals of a server that is not (or not yet) a primary taking writes: during a Sentinel or
    /// Cluster failover the write reached a replica (READONLY) or a node that cannot serve yet.
    /// The command was refused, so it is the same answer as an unreachable Redis: 503, retry.
    /// </summary>
    private static bool IsTransient(string message) =>
        message.StartsWith("READONLY", StringComparison.Ordinal) || message.StartsWith("LOADING", StringComparison.Ordinal)
        || message.StartsWith("MASTERDOWN", StringComparison.Ordinal) || message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
        || message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal) || message.StartsWith("BUSY", StringComparison.Ordinal);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Redis unavailable, answering 503: {Reason}")]
    private static partial void LogStoreDown(ILogger logger, string reason);
}
