using Hipache.Aspire.RouteStore;
using Hipache.Aspire.RouteStore.Certificates;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Keeps <see cref="RouteCache"/> true. Three sources, each enough on its own for its writers:
/// the change channel (every write of the admin API), the <c>dead</c> channel (marks by any router
/// or checker), and keyspace notifications (plain <c>redis-cli</c> writes; switched on with
/// CONFIG SET where the server allows it, absent on Garnet and most managed Redis). Messages
/// missed while disconnected are covered by re-reading everything after a reconnect.
/// </summary>
internal sealed partial class RouteChangeListener(
    RedisConnections connections,
    RouteCache cache,
    DeadMarkBook marks,
    KeyspaceChanges keyspace,
    RouterInstance instance,
    Tls.CertificateSelector certificates,
    ILogger<RouteChangeListener> logger) : BackgroundService
{
    // How long start-up waits for the subscriptions: a router that serves before it listens could
    // cache a route that changes in that window for up to Router:RouteCacheTtl. With Redis down it
    // starts anyway (stale-if-error and 503s) and subscribes when Redis is back.
    private static readonly TimeSpan StartupWait = TimeSpan.FromSeconds(10);

    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // K: keyspace channel, g: DEL/EXPIRE/RENAME, l: list commands, s: set commands, h: hash
    // commands (balancing settings), x: expirations, e: evictions.
    private const string RequiredEvents = "Kghlsxe";

    /// <summary>Completes once the change channel, 'dead' and keyspace subscriptions are in place.</summary>
    public Task Subscribed => _subscribed.Task;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAny(_subscribed.Task, Task.Delay(StartupWait, cancellationToken)).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        connections.ReadMultiplexer.ConnectionRestored += OnConnectionRestored;
        try
        {
            // Redis may be down at start: keep trying, the router serves (or answers 503) meanwhile.
            var backoff = TimeSpan.FromMilliseconds(200);
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await SubscribeAsync().ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    LogSubscribeFailed(logger, ex.Message);
                    connections.ReadMultiplexer.GetSubscriber().UnsubscribeAll(CommandFlags.FireAndForget);
                    await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                    backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
                }
            }

            await EnableKeyspaceNotificationsAsync().ConfigureAwait(false);
            // Anything cached before we listened may have missed a change.
            cache.InvalidateAll();
            certificates.InvalidateAll();
            _subscribed.TrySetResult();
            LogListening(logger, connections.Keys.ChangeChannel);
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            connections.ReadMultiplexer.ConnectionRestored -= OnConnectionRestored;
        }
    }

    private async Task SubscribeAsync()
    {
        var subscriber = connections.ReadMultiplexer.GetSubscriber();
        var keys = connections.Keys;

        // A queue, not a handler: handlers run concurrently, and a fence must be answered only after
        // every change published before it has been applied (ChangeFence).
        var changes = await subscriber.SubscribeAsync(RedisChannel.Literal(keys.ChangeChannel)).ConfigureAwait(false);
        changes.OnMessage(message => OnChanged(message.Message.ToString()));
        await subscriber.SubscribeAsync(RedisChannel.Literal(RouteKeys.DeadChannel), (_, message) => OnDeadMessage(message.ToString())).ConfigureAwait(false);

        // Keyspace notifications are node-local: on Redis Cluster these channels are subscribed on
        // every primary (the library's multi-node channels). Elsewhere a plain pattern on the one
        // server: the library re-subscribes those after a reconnect, which was not seen to happen
        // for multi-node channels after a restart of a single server (FaultsUnderLoadTests).
        var database = connections.ReadDatabaseNumber;
        var keyspacePrefix = keyspace.ChannelPrefix;
        var cluster = await connections.IsClusterAsync().ConfigureAwait(false);
        foreach (var keyPrefix in keyspace.KeyPrefixes)
        {
            var pattern = KeyspaceChanges.PrefixPattern(keyPrefix);
            var channel = cluster ? RedisChannel.KeySpacePattern(pattern, database) : RedisChannel.Pattern(keyspacePrefix + pattern);
            await subscriber.SubscribeAsync(channel, (channel, keyEvent) => keyspace.FromLibrary(channel.ToString()[keyspacePrefix.Length..], keyEvent.ToString())).ConfigureAwait(false);
        }
    }

    private void OnChanged(string message)
    {
        if (ChangeFence.TryReadMessage(message, out var token))
        {
            // Fire and forget: a lost answer shows this router as pending, which is the truth the
            // writer needs when Redis cannot even take the answer.
            connections.Write.Publish(RedisChannel.Literal(connections.Keys.AckChannel), ChangeFence.Ack(token, instance.Id), CommandFlags.FireAndForget);
            return;
        }

        if (ChangeFence.TryReadRateQuery(message, out var query, out var frontendKey))
        {
            var requests = cache.CachedRoute(frontendKey)?.RequestsLastSecond(Environment.TickCount64) ?? 0;
            connections.Write.Publish(RedisChannel.Literal(connections.Keys.AckChannel), ChangeFence.Ack(query, instance.Id, requests), CommandFlags.FireAndForget);
            return;
        }

        if (CertificateNames.TryReadChange(message, out var certificate))
        {
            certificates.OnChanged(certificate);
            instance.ChangeApplied(message);
            return;
        }

        if (message.Length > 0)
        {
            cache.Invalidate(message);
            instance.ChangeApplied(message);
        }
    }

    /// <summary><c>&lt;host&gt;;&lt;href&gt;;&lt;index&gt;;&lt;count&gt;</c>: the first field is the dead set's key.</summary>
    private void OnDeadMessage(string message)
    {
        // Record which URL the mark is about before the entry is re-read (Q13).
        if (marks.RecordMessage(message) is { } key)
        {
            cache.Demote(key);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        // Changes published while we were away are lost to us: read every route and certificate again.
        cache.InvalidateAll();
        certificates.InvalidateAll();
        var endpoint = e.EndPoint is null ? "?" : Format(e.EndPoint);
        LogReconnected(logger, endpoint);
        _ = EnableKeyspaceNotificationsAsync();
    }

    private async Task EnableKeyspaceNotificationsAsync()
    {
        try
        {
            foreach (var endpoint in connections.ReadMultiplexer.GetEndPoints())
            {
                var server = connections.ReadMultiplexer.GetServer(endpoint);
                var current = (await server.ConfigGetAsync("notify-keyspace-events").ConfigureAwait(false)).FirstOrDefault().Value ?? string.Empty;
                var wanted = new string([.. current.Union(RequiredEvents).Distinct()]);
                if (RequiredEvents.All(current.Contains) || current.Contains('A', StringComparison.Ordinal) && current.Contains('K', StringComparison.Ordinal))
                {
                    LogKeyspaceEnabled(logger, current);
                    continue;
                }

                await server.ConfigSetAsync("notify-keyspace-events", wanted).ConfigureAwait(false);
                LogKeyspaceEnabled(logger, wanted);
            }
        }
        catch (Exception ex) when (ex is RedisException or RedisCommandException or TimeoutException)
        {
            LogKeyspaceUnavailable(logger, ex.Message);
        }
    }

    private static string Format(System.Net.EndPoint endpoint) => endpoint.ToString() ?? "?";

    [LoggerMessage(EventId = 34, Level = LogLevel.Warning, Message = "Could not subscribe to route changes yet ({Reason}); retrying")]
    private static partial void LogSubscribeFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Listening for route changes on {Channel}, 'dead' and keyspace notifications")]
    private static partial void LogListening(ILogger logger, string channel);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "Keyspace notifications are on (notify-keyspace-events={Flags}): redis-cli writes are seen at once")]
    private static partial void LogKeyspaceEnabled(ILogger logger, string flags);

    [LoggerMessage(EventId = 32, Level = LogLevel.Warning, Message = "Keyspace notifications could not be enabled ({Reason}): writes made without the change channel are seen after Router:RouteCacheTtl")]
    private static partial void LogKeyspaceUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 33, Level = LogLevel.Information, Message = "Reconnected to Redis {Endpoint}: every cached route will be read again")]
    private static partial void LogReconnected(ILogger logger, string endpoint);
}
