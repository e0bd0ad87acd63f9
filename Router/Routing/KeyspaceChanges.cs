using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Applies keyspace notifications (plain <c>redis-cli</c> writes) to the route cache, from one
/// subscription at a time. Two can carry them: the Redis library's (always) and, on the epoll
/// engine, <see cref="DirectKeyspaceSubscriber"/>'s, which applies them on the event loop with no
/// thread hop. While the direct one is up the library's are skipped: each change would otherwise
/// be read twice, the second read dropping the first one's result. Each switch re-reads every
/// cached route, since a notification may fall between the two subscriptions.
/// </summary>
internal sealed class KeyspaceChanges(RedisConnections connections, RouteCache cache)
{
    private volatile bool _direct;

    /// <summary>The key prefixes whose notifications matter: frontends, their dead sets and balancing settings.</summary>
    public string[] KeyPrefixes { get; } = [connections.Keys.FrontendKeyPrefix, connections.Keys.DeadKeyPrefix, connections.Keys.BalancingKeyPrefix];

    /// <summary>What every keyspace notification channel of the read database starts with; the key follows it.</summary>
    public string ChannelPrefix { get; } = $"__keyspace@{connections.ReadDatabaseNumber}__:";

    /// <summary>Whether the direct subscription is the one applied.</summary>
    public bool DirectActive => _direct;

    /// <summary>A notification heard on the library's subscription.</summary>
    public void FromLibrary(string redisKey, ReadOnlySpan<char> keyEvent)
    {
        if (!_direct)
        {
            Apply(redisKey, keyEvent);
        }
    }

    /// <summary>A notification heard on the direct subscription.</summary>
    public void FromDirect(string redisKey, ReadOnlySpan<char> keyEvent) => Apply(redisKey, keyEvent);

    /// <summary>The direct subscription is confirmed: from now on it alone is applied.</summary>
    public void DirectStarted()
    {
        _direct = true;
        // What the library's subscription heard after this and was published before the direct
        // one subscribed is skipped: every route is read again after this point.
        cache.InvalidateAll();
    }

    /// <summary>The direct subscription is gone: the library's is applied again.</summary>
    public void DirectStopped()
    {
        if (!_direct)
        {
            return;
        }

        _direct = false;
        // What the direct connection lost was skipped on the library's: every route is read again.
        // Unless the library's connection is down too (Redis is): it reads everything again when
        // it is back, and doing so now would only send every request to a Redis that is not there.
        if (connections.ReadMultiplexer.IsConnected)
        {
            cache.InvalidateAll();
        }
    }

    /// <summary>A glob pattern that matches exactly the keys starting with <paramref name="literal"/>.</summary>
    public static string PrefixPattern(string literal) => RouteKeys.EscapeGlob(literal) + "*";

    private void Apply(string redisKey, ReadOnlySpan<char> keyEvent)
    {
        // A new TTL changes nothing a route read sees (EXPIRE with a time in the past is a "del").
        if (keyEvent.SequenceEqual("expire") || keyEvent.SequenceEqual("persist"))
        {
            return;
        }

        if (connections.Keys.DeadKeyOf(redisKey) is { } deadKey)
        {
            // A dead set changed: the route itself did not. It is read again, and the cached copy
            // stays for stale-if-error: removing it turned this router's own marks (each one is
            // heard back here and on the dead channel) into 503 for the whole host whenever Redis
            // stalled past OperationTimeout right after (FaultsUnderLoadTests, a loaded CI run).
            cache.Demote(deadKey);
            return;
        }

        var key = connections.Keys.FrontendKeyOf(redisKey) ?? connections.Keys.BalancingKeyOf(redisKey);
        if (key is not null)
        {
            cache.Invalidate(key);
        }
    }
}
