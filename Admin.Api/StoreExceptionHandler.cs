using Microsoft.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin;

/// <summary>
/// Turns the two failures a client can do something about into problem+json: Redis unreachable
/// (503 with Retry-After: nothing was written, try again) and unreadable request bodies (400).
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
                status = StatusCodes.Status503ServiceUnavailable;
                title = "Routing table unavailable";
                detail = "Redis did not answer; the change was not applied. Retry later.";
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

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Redis unavailable, answering 503: {Reason}")]
    private static partial void LogStoreDown(ILogger logger, string reason);
}
