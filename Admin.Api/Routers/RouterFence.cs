using System.Collections.Concurrent;
using Hipache.Aspire.RouteStore;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin.Routers;

/// <summary>One router's answer to a fence: how long after the fence was published.</summary>
public sealed record RouterConfirmation(string Id, double AfterMs);

/// <summary>Which routers answered a fence within its bound, and which did not.</summary>
internal sealed record FenceOutcome(IReadOnlyList<RouterConfirmation> Confirmed, IReadOnlyList<string> Pending, TimeSpan Waited)
{
    /// <summary>What each router answered to a question (a rate query); empty for a fence.</summary>
    public IReadOnlyDictionary<string, long> Values { get; init; } = new Dictionary<string, long>();
}

/// <summary>
/// Finds out which routers serve everything written so far: publishes a fence on the change
/// channel after the write's own change message and collects the routers' answers on the ack
/// channel (<see cref="ChangeFence"/>). A router answers once it has applied every change
/// message before the fence, so an answer means its next request sees the write.
/// </summary>
internal sealed partial class RouterFence(RedisConnections connections, TimeProvider time, ILogger<RouterFence> logger) : IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, FenceWait> _waits = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _subscribing = new(1, 1);
    private volatile bool _subscribed;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await EnsureSubscribedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis may be down at start; the first write that waits subscribes.
            LogSubscribeFailed(logger, ex.Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _subscribing.Dispose();

    /// <summary>
    /// Publishes a fence and waits up to <paramref name="bound"/> for every router in
    /// <paramref name="routerIds"/> to answer it. No routers: answered at once, nothing pending.
    /// </summary>
    public Task<FenceOutcome> ConfirmAsync(IReadOnlyCollection<string> routerIds, TimeSpan bound, CancellationToken cancellationToken) =>
        AskAsync(routerIds, ChangeFence.Message, bound, cancellationToken);

    /// <summary>How many requests each router routed for <paramref name="frontendKey"/> in its last full second (<see cref="FenceOutcome.Values"/>).</summary>
    public Task<FenceOutcome> QueryRateAsync(IReadOnlyCollection<string> routerIds, string frontendKey, TimeSpan bound, CancellationToken cancellationToken) =>
        AskAsync(routerIds, token => ChangeFence.RateQuery(token, frontendKey), bound, cancellationToken);

    private async Task<FenceOutcome> AskAsync(IReadOnlyCollection<string> routerIds, Func<string, string> message, TimeSpan bound, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(routerIds);
        if (routerIds.Count == 0)
        {
            return new FenceOutcome([], [], TimeSpan.Zero);
        }

        await EnsureSubscribedAsync(cancellationToken).ConfigureAwait(false);
        var token = Guid.NewGuid().ToString("N");
        var started = time.GetTimestamp();
        var wait = new FenceWait(routerIds, started, time);
        _waits[token] = wait;
        try
        {
            await connections.Write.PublishAsync(RedisChannel.Literal(connections.Keys.ChangeChannel), message(token))
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await wait.AllConfirmed.WaitAsync(bound, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The bound passed: the routers that did not answer are pending.
            }
        }
        finally
        {
            _waits.TryRemove(token, out _);
        }

        return wait.Outcome(time.GetElapsedTime(started));
    }

    private async Task EnsureSubscribedAsync(CancellationToken cancellationToken)
    {
        if (_subscribed)
        {
            return;
        }

        await _subscribing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_subscribed)
            {
                // Routers answer through their write connection: the same server as this one's.
                await connections.WriteMultiplexer.GetSubscriber()
                    .SubscribeAsync(RedisChannel.Literal(connections.Keys.AckChannel), (_, message) => OnAck(message.ToString()))
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
                _subscribed = true;
            }
        }
        finally
        {
            _subscribing.Release();
        }
    }

    private void OnAck(string ack)
    {
        if (ChangeFence.TryReadAck(ack, out var token, out var routerId, out var value) && _waits.TryGetValue(token, out var wait))
        {
            wait.Confirm(routerId, value);
        }
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Warning, Message = "Could not subscribe to the routers' fence answers yet ({Reason}); the first write with ?wait= tries again")]
    private static partial void LogSubscribeFailed(ILogger logger, string reason);

    private sealed class FenceWait(IReadOnlyCollection<string> routerIds, long started, TimeProvider time)
    {
        private readonly Dictionary<string, double?> _answers = routerIds.Distinct(StringComparer.Ordinal).ToDictionary(id => id, _ => (double?)null, StringComparer.Ordinal);
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Dictionary<string, long> _values = new(StringComparer.Ordinal);

        public Task AllConfirmed => _all.Task;

        public void Confirm(string routerId, long? value)
        {
            lock (_answers)
            {
                // A router that announced itself after the fence was sent reads Redis afresh: not waited for.
                if (!_answers.TryGetValue(routerId, out var answered) || answered is not null)
                {
                    return;
                }

                _answers[routerId] = time.GetElapsedTime(started).TotalMilliseconds;
                if (value is { } number)
                {
                    _values[routerId] = number;
                }

                // A handful of routers: the count is read off the answers rather than kept beside them.
                if (!_answers.ContainsValue(null))
                {
                    _all.TrySetResult();
                }
            }
        }

        public FenceOutcome Outcome(TimeSpan waited)
        {
            lock (_answers)
            {
                var confirmed = _answers.Where(a => a.Value is not null).Select(a => new RouterConfirmation(a.Key, Math.Round(a.Value!.Value, 2))).OrderBy(c => c.Id, StringComparer.Ordinal).ToArray();
                var pending = _answers.Where(a => a.Value is null).Select(a => a.Key).Order(StringComparer.Ordinal).ToArray();
                return new FenceOutcome(confirmed, pending, waited) { Values = new Dictionary<string, long>(_values, StringComparer.Ordinal) };
            }
        }
    }
}
