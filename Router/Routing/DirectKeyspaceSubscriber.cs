using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Io;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// A subscription to the route keys' keyspace notifications on a connection of the router's own,
/// read on an epoll loop, each notification applied to the cache inline as it is parsed. Through
/// the Redis library a notification crosses three threads (its socket thread, its reader, a pool
/// worker for the handler), and a client quick to ask for a host just written with redis-cli could
/// get there first: S4 lost that race in a fifth of its trials. Here the loop that accepts the
/// client's connection has applied the change before it reads the request that follows it.
/// Only for one plain Redis server (no TLS, Sentinel, Cluster or replica reads; the library's
/// subscription serves those). Verified like the library's by <see cref="ChangeFeedProbe"/>.
/// </summary>
internal sealed partial class DirectKeyspaceSubscriber(
    RedisConnections connections,
    KeyspaceChanges changes,
    RouteChangeListener listener,
    IServiceProvider services,
    IOptions<RouterOptions> options,
    IOptions<RouteStoreOptions> storeOptions,
    ILogger<DirectKeyspaceSubscriber> logger) : BackgroundService
{
    private const int InitialBuffer = 16 * 1024;
    private const int MaxBuffer = 1024 * 1024;
    private const string ClientName = "hipache-aspire-keyspace";

    private volatile string _status = "starting";
    private volatile CancellationTokenSource? _connection;
    private volatile string? _probeKey;
    private Action? _probeHeard;
    private bool _activated;

    /// <summary>Whether notifications are being applied from this subscription (see <see cref="KeyspaceChanges"/>).</summary>
    public bool IsActive => changes.DirectActive;

    /// <summary>For the health endpoint: active, or why not.</summary>
    public string Status => _status;

    /// <summary>Calls <paramref name="heard"/> (on the loop) whenever a notification for <paramref name="probeKey"/> arrives.</summary>
    public void WatchProbe(string probeKey, Action heard)
    {
        _probeHeard = heard;
        _probeKey = probeKey;
    }

    /// <summary>Drops the connection and makes a new one: its probe notification did not come back.</summary>
    public void Restart(string reason)
    {
        if (_connection is { } connection)
        {
            LogRestarting(logger, reason);
            try
            {
                connection.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // That connection ended (and its token was disposed) since it was looked up: nothing to restart.
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await listener.Subscribed.WaitAsync(stoppingToken).ConfigureAwait(false);
            string? reason;
            while (true)
            {
                try
                {
                    reason = await WhyNotAsync().ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
                {
                    // Whether the store is a cluster is asked of the server: when it is back.
                    _status = "waiting for Redis: " + ex.Message;
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                }
            }

            if (reason is not null)
            {
                _status = "off: " + reason;
                LogOff(logger, reason);
                return;
            }

            var loops = services.GetRequiredService<EpollLoops>();
            var endpoint = connections.ReadOptions.EndPoints[0];
            var backoff = TimeSpan.FromMilliseconds(200);
            while (!stoppingToken.IsCancellationRequested)
            {
                _activated = false;
                try
                {
                    await RunConnectionAsync(endpoint, loops, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is SocketException or IOException or RespProtocolException or TimeoutException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                {
                    var lost = ex is OperationCanceledException && !_activated ? $"no confirmed subscription within RouteStore:ConnectTimeout ({storeOptions.Value.ConnectTimeout})" : ex.Message;
                    _status = "reconnecting: " + lost;
                    LogLost(logger, lost);
                }
                finally
                {
                    changes.DirectStopped();
                }

                // A subscription that held starts over at the shortest wait; one that never did backs off.
                backoff = _activated ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<string?> WhyNotAsync()
    {
        if (!options.Value.DirectKeyspaceSubscription)
        {
            return "Router:DirectKeyspaceSubscription is false";
        }

        if (services.GetService<EpollLoops>() is null)
        {
            return "the Sockets I/O engine (it runs on the epoll engine's loops)";
        }

        var read = connections.ReadOptions;
        return read.EndPoints.Count != 1 ? "more than one Redis endpoint"
            : read.Ssl ? "TLS to Redis"
            : !string.IsNullOrEmpty(read.ServiceName) ? "Redis Sentinel"
            : connections.ReadFromReplicas ? "reads from replicas"
            : await connections.IsClusterAsync().ConfigureAwait(false) ? "Redis Cluster"
            : null;
    }

    private async Task RunConnectionAsync(EndPoint endpoint, EpollLoops loops, CancellationToken stoppingToken)
    {
        var where = endpoint.ToString() ?? "?";
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _connection = connection;
        // Connect and handshake within ConnectTimeout; a confirmed subscription then waits for as long as it lives.
        connection.CancelAfter(storeOptions.Value.ConnectTimeout);
        using var socket = await LoopSocket.ConnectAsync(endpoint, loops.Next(), connection.Token).ConfigureAwait(false);
        var handshake = Handshake(out var okReplies, out var confirmations);
        for (var sent = 0; sent < handshake.Length;)
        {
            sent += await socket.SendAsync(handshake.AsMemory(sent), connection.Token).ConfigureAwait(false);
        }

        var buffer = new byte[InitialBuffer];
        var start = 0;
        var end = 0;
        var parts = new Range[RespReplyReader.MaxParts];
        while (true)
        {
            if (end == buffer.Length)
            {
                if (start > 0)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
                else if (buffer.Length < MaxBuffer)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                else
                {
                    throw new RespProtocolException("A reply larger than 1 MB.");
                }
            }

            var read = await socket.ReceiveAsync(buffer.AsMemory(end), connection.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("Redis closed the connection.");
            }

            end += read;
            while (true)
            {
                var taken = RespReplyReader.TryRead(buffer.AsSpan(start, end - start), parts, out var kind, out var count);
                if (taken == 0)
                {
                    break;
                }

                var reply = buffer.AsSpan(start, taken);
                start += taken;
                switch (kind)
                {
                    case RespReplyKind.Error:
                        throw new IOException("Redis refused the subscription: " + Encoding.UTF8.GetString(reply[parts[0]]));
                    case RespReplyKind.Simple:
                        okReplies--;
                        break;
                    case RespReplyKind.Array when count == 4 && reply[parts[0]].SequenceEqual("pmessage"u8):
                        OnNotification(reply[parts[2]], reply[parts[3]]);
                        break;
                    case RespReplyKind.Array when count == 3 && reply[parts[0]].SequenceEqual("psubscribe"u8):
                        confirmations--;
                        break;
                }

                if (okReplies == 0 && confirmations == 0 && !_activated)
                {
                    _activated = true;
                    connection.CancelAfter(Timeout.InfiniteTimeSpan);
                    changes.DirectStarted();
                    _status = "active";
                    LogActive(logger, where);
                }
            }

            if (start == end)
            {
                start = end = 0;
            }
        }
    }

    /// <summary>AUTH when the connection has credentials, CLIENT SETNAME, then PSUBSCRIBE of the route and probe key prefixes, pipelined.</summary>
    private byte[] Handshake(out int okReplies, out int confirmations)
    {
        var read = connections.ReadOptions;
        var commands = new List<string[]>();
        if (!string.IsNullOrEmpty(read.Password))
        {
            commands.Add(string.IsNullOrEmpty(read.User) ? ["AUTH", read.Password] : ["AUTH", read.User, read.Password]);
        }

        commands.Add(["CLIENT", "SETNAME", ClientName]);
        string[] prefixes = [.. changes.KeyPrefixes, connections.Keys.ProbeKeyPrefix];
        commands.Add(["PSUBSCRIBE", .. prefixes.Select(prefix => changes.ChannelPrefix + KeyspaceChanges.PrefixPattern(prefix))]);
        okReplies = commands.Count - 1;
        confirmations = prefixes.Length;

        var text = new StringBuilder();
        foreach (var command in commands)
        {
            text.Append(CultureInfo.InvariantCulture, $"*{command.Length}\r\n");
            foreach (var argument in command)
            {
                text.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(argument)}\r\n{argument}\r\n");
            }
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private void OnNotification(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> keyEvent)
    {
        if (channel.Length <= changes.ChannelPrefix.Length)
        {
            return;
        }

        var redisKey = Encoding.UTF8.GetString(channel[changes.ChannelPrefix.Length..]);
        if (redisKey == _probeKey)
        {
            _probeHeard?.Invoke();
            return;
        }

        Span<char> eventName = stackalloc char[16];
        var length = keyEvent.Length <= eventName.Length ? Encoding.ASCII.GetChars(keyEvent, eventName) : 0;
        changes.FromDirect(redisKey, eventName[..length]);
    }

    [LoggerMessage(EventId = 38, Level = LogLevel.Information, Message = "Keyspace notifications on the router's own connection to {Endpoint}, applied on its event loop")]
    private static partial void LogActive(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 39, Level = LogLevel.Warning, Message = "The direct keyspace subscription was lost ({Reason}); the Redis library's applies them until it is back")]
    private static partial void LogLost(ILogger logger, string reason);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "No direct keyspace subscription: {Reason}; the Redis library's subscription applies them")]
    private static partial void LogOff(ILogger logger, string reason);

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "Restarting the direct keyspace subscription: {Reason}")]
    private static partial void LogRestarting(ILogger logger, string reason);
}
