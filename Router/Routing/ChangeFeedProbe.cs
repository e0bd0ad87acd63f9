using System.Globalization;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Finds out, instead of assuming, whether every change reaches this router: every
/// Router:StoreCheckInterval it rewrites its own probe key through the write connection and waits
/// (one interval, at least 2 s) for that write's keyspace notification on the read connection's subscription,
/// the one the change channel and the frontend/dead notifications arrive on (and, while it applies them,
/// on <see cref="DirectKeyspaceSubscriber"/>'s connection too). Heard: push mode
/// (<see cref="ChangeFeed"/>), cached routes live Router:RouteCachePushTtl. Not heard (keyspace
/// notifications off, as on Garnet or a managed Redis without CONFIG; a stalled subscription),
/// Redis unreachable, or the subscription connection dropped: poll mode, Router:RouteCacheTtl.
/// </summary>
internal sealed partial class ChangeFeedProbe(
    RedisConnections connections,
    ChangeFeed feed,
    RouteChangeListener listener,
    DirectKeyspaceSubscriber direct,
    IOptions<RouterOptions> options,
    ILogger<ChangeFeedProbe> logger) : BackgroundService
{
    // The probe key outlives its router by this much, then Redis drops it.
    private static readonly TimeSpan ProbeKeyLifetime = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan MinimumWait = TimeSpan.FromSeconds(2);

    private readonly string _probeKey = connections.Keys.Probe($"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}");
    private TaskCompletionSource? _pending;
    private TaskCompletionSource? _pendingDirect;
    private long _sequence;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.StoreCheckInterval;
        // A notification late by more than this means the feed is off or stalled; shorter waits
        // flipped a loaded router to poll mode for deliveries that were only slow.
        var wait = interval > MinimumWait ? interval : MinimumWait;
        connections.ReadMultiplexer.ConnectionFailed += OnConnectionFailed;
        try
        {
            // Push needs the change channel too: start probing once the listener has subscribed.
            await listener.Subscribed.WaitAsync(stoppingToken).ConfigureAwait(false);
            direct.WatchProbe(_probeKey, () => Volatile.Read(ref _pendingDirect)?.TrySetResult());
            // Routed to the node that holds the probe key (Redis Cluster: notifications are node-local).
            var channel = RedisChannel.KeySpaceSingleKey(_probeKey, connections.ReadDatabaseNumber);
            var subscribed = false;
            using var timer = new PeriodicTimer(interval);
            do
            {
                try
                {
                    if (!subscribed)
                    {
                        await connections.ReadMultiplexer.GetSubscriber().SubscribeAsync(channel, (_, _) => Volatile.Read(ref _pending)?.TrySetResult()).ConfigureAwait(false);
                        subscribed = true;
                    }

                    await ProbeOnceAsync(wait, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    Lose($"Redis did not take the probe ({ex.Message})");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            connections.ReadMultiplexer.ConnectionFailed -= OnConnectionFailed;
        }
    }

    private async Task ProbeOnceAsync(TimeSpan wait, CancellationToken stoppingToken)
    {
        if (await connections.IsClusterAsync().ConfigureAwait(false))
        {
            // The probe key lives on one node and proves that node's notifications only; a lost
            // subscription on another primary would go unnoticed for RouteCachePushTtl. Changes are
            // still heard from every primary; RouteCacheTtl stays the bound.
            Lose("Redis Cluster: keyspace notifications are per node and one probe key cannot vouch for every primary");
            return;
        }

        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // While the direct subscription applies the notifications, it is the one that must hear the
        // probe too: the library's then only stands by.
        var heardDirect = direct.IsActive ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
        Volatile.Write(ref _pending, heard);
        Volatile.Write(ref _pendingDirect, heardDirect);
        var sentAt = Environment.TickCount64;
        var value = Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture);

        // One element, refreshed expiry: the key stays tiny and disappears a minute after the router.
        var batch = connections.Write.CreateBatch();
        var push = batch.ListLeftPushAsync(_probeKey, value);
        var trim = batch.ListTrimAsync(_probeKey, 0, 0);
        var expire = batch.KeyExpireAsync(_probeKey, ProbeKeyLifetime);
        batch.Execute();
        await Task.WhenAll(push, trim, expire).WaitAsync(wait, stoppingToken).ConfigureAwait(false);

        var both = heardDirect is null ? heard.Task : Task.WhenAll(heard.Task, heardDirect.Task);
        await Task.WhenAny(both, Task.Delay(wait, stoppingToken)).ConfigureAwait(false);
        stoppingToken.ThrowIfCancellationRequested();
        if (!heard.Task.IsCompleted)
        {
            Lose($"the probe's keyspace notification did not arrive within {wait} (notify-keyspace-events off or unsupported?)");
        }
        else if (heardDirect is { Task.IsCompleted: false } && direct.IsActive)
        {
            // Heard by the library and not on the direct connection, which stays up: it is stuck.
            Lose($"the probe's keyspace notification did not arrive on the direct subscription within {wait}");
            direct.Restart("its probe's notification did not arrive");
        }
        else if (feed.Confirm(sentAt))
        {
            LogPush(logger, options.Value.RouteCachePushTtl);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription || e.ConnectionType == ConnectionType.Interactive)
        {
            Lose($"the connection to Redis dropped ({e.FailureType})");
        }
    }

    private void Lose(string reason)
    {
        if (feed.Lose(reason))
        {
            LogPoll(logger, reason, options.Value.RouteCacheTtl);
        }
    }

    [LoggerMessage(EventId = 36, Level = LogLevel.Information, Message = "Route cache in push mode: every change reaches this router, cached routes live {PushTtl}")]
    private static partial void LogPush(ILogger logger, TimeSpan pushTtl);

    [LoggerMessage(EventId = 37, Level = LogLevel.Warning, Message = "Route cache in poll mode: {Reason}; cached routes live {Ttl}")]
    private static partial void LogPoll(ILogger logger, string reason, TimeSpan ttl);
}
