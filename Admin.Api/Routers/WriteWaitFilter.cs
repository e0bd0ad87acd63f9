using Hipache.Aspire.Admin.Auth;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin.Routers;

/// <summary>
/// <c>?wait=&lt;duration&gt;</c> on a write: once the write is stored, the answer waits (up to the
/// duration) until every live router serves it. All confirmed: the write's own status, with
/// <c>Hipache-Routers-Confirmed</c> naming them. Some not within the bound: 202 with a
/// <see cref="WriteConfirmation"/> naming the pending ones (the write is stored either way).
/// </summary>
internal sealed class WriteWaitFilter(RouterFence fence, RouterRegistry registry, IOptions<AdminOptions> options) : IEndpointFilter
{
    public const string ConfirmedHeader = "Hipache-Routers-Confirmed";
    public const string PendingHeader = "Hipache-Routers-Pending";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var http = context.HttpContext;
        if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || !http.Request.Query.TryGetValue("wait", out var raw))
        {
            return await next(context).ConfigureAwait(false);
        }

        if (raw.Count != 1)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["wait"] = ["Give wait once."] });
        }

        if (!WaitDuration.TryParse(raw[0], options.Value.MaxWriteWait, out var bound, out var error))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["wait"] = [error!] });
        }

        var result = await next(context).ConfigureAwait(false);
        if (!IsSuccess(result))
        {
            return result;
        }

        var cancellationToken = http.RequestAborted;
        FenceOutcome outcome;
        try
        {
            var routers = await registry.ListLiveAsync(cancellationToken).ConfigureAwait(false);
            outcome = await fence.ConfirmAsync([.. routers.Select(r => r.Id)], bound, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The write is stored; only the confirmation failed, and that must not read as a failed write.
            return TypedResults.Json(
                new WriteConfirmation($"The write is stored, but which routers serve it could not be learnt: {ex.Message}", [], [], 0),
                statusCode: StatusCodes.Status202Accepted);
        }

        http.Response.Headers[ConfirmedHeader] = string.Join(", ", outcome.Confirmed.Select(c => c.Id));
        if (outcome.Pending.Count == 0)
        {
            return result;
        }

        http.Response.Headers[PendingHeader] = string.Join(", ", outcome.Pending);
        return TypedResults.Json(
            new WriteConfirmation(
                $"The write is stored; {outcome.Pending.Count} of {outcome.Pending.Count + outcome.Confirmed.Count} live routers did not confirm serving it within {bound.TotalMilliseconds} ms.",
                outcome.Confirmed,
                outcome.Pending,
                Math.Round(outcome.Waited.TotalMilliseconds, 2)),
            statusCode: StatusCodes.Status202Accepted);
    }

    private static bool IsSuccess(object? result)
    {
        while (result is INestedHttpResult nested)
        {
            result = nested.Result;
        }

        return result is IStatusCodeHttpResult { StatusCode: >= 200 and < 300 };
    }
}
