using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>Reads the routing table: one pipelined round trip per lookup (hipache-compat 2.7).</summary>
public sealed class RouteReader(RedisConnections connections)
{
    // SCAN COUNT floor: a few hundred buckets per round trip, so that sparse matches do not cost one call per key.
    private const int MinScanCount = 100;

    // SCAN COUNT ceiling, about what one call examines in a millisecond; pages are at most this large anyway.
    private const int MaxScanCount = 1000;

    // Bound on one page's work (about MaxScanCallsPerPage * COUNT keys examined), so that a
    // selective match over a huge keyspace answers a short page instead of holding the request.
    private const int MaxScanCallsPerPage = 64;

    private static readonly IReadOnlySet<int> NoDeadIndexes = new HashSet<int>();

    public RouteKeys Keys => connections.Keys;

    /// <summary>Route reads prefer a replica (<see cref="RouteStoreOptions.ReadFromReplicas"/>).</summary>
    public bool ReadsFromReplicas => connections.ReadFromReplicas;

    /// <summary><see cref="RouteStoreOptions.ReplicaLagBound"/>.</summary>
    public TimeSpan ReplicaLagBound => connections.ReplicaLagBound;

    /// <summary>
    /// Reads the lists, dead sets and balancing settings of <paramref name="keys"/> in one pipelined batch (one round
    /// trip, plain pipeline so that it works across Redis Cluster slots), one result per key in order.
    /// </summary>
    public Task<FrontendRead[]> ReadFrontendsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        ReadFrontendsAsync(keys, fromPrimary: false, cancellationToken);

    /// <inheritdoc cref="ReadFrontendsAsync(IReadOnlyList{string}, CancellationToken)"/>
    /// <param name="keys">The frontend keys.</param>
    /// <param name="fromPrimary">Read from the primary even with <see cref="RouteStoreOptions.ReadFromReplicas"/> (a key that just changed).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<FrontendRead[]> ReadFrontendsAsync(IReadOnlyList<string> keys, bool fromPrimary, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var db = connections.Read;
        var flags = connections.ReadFromReplicas && !fromPrimary ? CommandFlags.PreferReplica : CommandFlags.None;
        var replies = new Task<RedisValue[]>[keys.Count * 2];
        var balancing = new Task<HashEntry[]>[keys.Count];
        if (keys.Count == 1)
        {
            // No batch object for the common miss (one uncached key): the commands still go out back to back.
            replies[0] = db.ListRangeAsync(connections.Keys.Frontend(keys[0]), flags: flags);
            replies[1] = db.SetMembersAsync(connections.Keys.Dead(keys[0]), flags);
            balancing[0] = db.HashGetAllAsync(connections.Keys.Balancing(keys[0]), flags);
        }
        else
        {
            var batch = db.CreateBatch();
            for (var i = 0; i < keys.Count; i++)
            {
                replies[2 * i] = batch.ListRangeAsync(connections.Keys.Frontend(keys[i]), flags: flags);
                replies[(2 * i) + 1] = batch.SetMembersAsync(connections.Keys.Dead(keys[i]), flags);
                balancing[i] = batch.HashGetAllAsync(connections.Keys.Balancing(keys[i]), flags);
            }

            batch.Execute();
        }

        try
        {
            await Task.WhenAll(replies).WaitAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(balancing).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            // The library fails a command written while its connection is being torn down with
            // "Writing is not allowed after writer was completed" (bench/soak.sh, at a Redis kill):
            // a lost connection like any other, so that callers serve their stale copy.
            throw new RedisConnectionException(ConnectionFailureType.SocketClosed, ex.Message, ex);
        }

        var reads = new FrontendRead[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            var list = replies[2 * i].Result;
            var dead = ParseIndexes(replies[(2 * i) + 1].Result);
            if (list.Length == 0)
            {
                reads[i] = new FrontendRead(keys[i], null, [], dead);
                continue;
            }

            var backends = new string[list.Length - 1];
            for (var b = 0; b < backends.Length; b++)
            {
                backends[b] = list[b + 1].ToString();
            }

            var settings = balancing[i].Result;
            reads[i] = new FrontendRead(keys[i], list[0].ToString(), backends, dead, settings.Length == 0 ? null : Balancing.FromHash(settings));
        }

        return reads;
    }

    /// <summary>Reads one frontend list as it is, or null when the key is missing or empty.</summary>
    public async Task<Frontend?> GetFrontendAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var list = await connections.Read.ListRangeAsync(connections.Keys.Frontend(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        return list.Length == 0 ? null : new Frontend(frontendKey, list[0].ToString(), [.. list.Skip(1).Select(v => v.ToString())]);
    }

    /// <summary>
    /// One page of frontends whose key (host part) matches the Redis glob <paramref name="match"/>,
    /// read with SCAN (never KEYS, which blocks the server for the whole keyspace) and one pipelined
    /// LRANGE per key. SCAN's guarantee holds: a frontend present for the whole walk is returned at
    /// least once. A page holds at most <paramref name="limit"/> items, possibly fewer (even none) when
    /// keys are sparse, so callers continue while <see cref="FrontendPage.Next"/> is set.
    /// </summary>
    public async Task<FrontendPage> ScanFrontendsAsync(string match, ScanPosition from, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(match);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var pattern = RouteKeys.EscapeGlob(connections.Keys.FrontendKeyPrefix) + match;
        var keys = new List<string>(limit);
        var cursor = from.Cursor;
        var after = from.After;
        var node = from.Node;
        ScanPosition? next = null;
        // Redis Cluster: SCAN walks one node, so the walk goes primary by primary, in endpoint order.
        var primaries = ClusterPrimaries();
        if (primaries is not null && node >= primaries.Length)
        {
            return new FrontendPage([], null);
        }

        for (var calls = 0; ; calls++)
        {
            // A split batch is re-read with the COUNT that produced it, so that it is the same batch.
            // The clamp only matters for a forged cursor: a huge COUNT would walk the whole keyspace in one call.
            var count = after is null ? Math.Clamp(limit - keys.Count, MinScanCount, MaxScanCount) : Math.Clamp(from.Count, 1, MaxScanCount);
            var reply = await (primaries is null
                ? connections.Read.ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", count)
                : primaries[node].ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", count)).WaitAsync(cancellationToken).ConfigureAwait(false);
            var parts = (RedisResult[])reply!;
            var nextCursor = ulong.Parse((string)parts[0]!, NumberStyles.None, CultureInfo.InvariantCulture);
            var batch = ((RedisResult[])parts[1]!).Select(k => (string)k!).Where(k => after is null || string.CompareOrdinal(k, after) > 0).Distinct().Order(StringComparer.Ordinal).ToList();
            after = null;
            var room = limit - keys.Count;
            if (batch.Count > room)
            {
                keys.AddRange(batch.Take(room));
                next = new ScanPosition(cursor, count, keys[^1], node);
                break;
            }

            keys.AddRange(batch);
            cursor = nextCursor;
            if (cursor == 0)
            {
                if (primaries is null || node + 1 >= primaries.Length)
                {
                    break;
                }

                node++;
            }

            if (keys.Count == limit || calls + 1 == MaxScanCallsPerPage)
            {
                next = new ScanPosition(cursor, 0, null, node);
                break;
            }
        }

        return new FrontendPage(await FrontendLists.ReadAsync(connections.Read, connections.Keys, keys, cancellationToken).ConfigureAwait(false), next);
    }

    /// <summary>The primaries of a Redis Cluster in endpoint order, or null when the store is not a cluster.</summary>
    private IServer[]? ClusterPrimaries()
    {
        var servers = connections.ReadMultiplexer.GetServers();
        if (!servers.Any(s => s.ServerType == ServerType.Cluster))
        {
            return null;
        }

        return [.. servers.Where(s => s.ServerType == ServerType.Cluster && !s.IsReplica).OrderBy(s => s.EndPoint.ToString(), StringComparer.Ordinal)];
    }

    /// <summary>Reads one frontend list and its <see cref="FrontendTag"/>, or null when the key is missing or empty.</summary>
    public async Task<TaggedFrontend?> GetTaggedFrontendAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var list = await connections.Read.ListRangeAsync(connections.Keys.Frontend(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        return list.Length == 0
            ? null
            : new TaggedFrontend(new Frontend(frontendKey, list[0].ToString(), [.. list.Skip(1).Select(v => v.ToString())]), FrontendTag.Compute(list));
    }

    /// <summary>The active health checker's last result for each URL (null where none is recorded), one pipelined round trip.</summary>
    public async Task<ProbeResult?[]> GetProbeResultsAsync(IReadOnlyList<string> backendUrls, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backendUrls);
        var batch = connections.Read.CreateBatch();
        var replies = backendUrls.Select(url => batch.HashGetAllAsync(connections.Keys.BackendHealth(url))).ToArray();
        batch.Execute();
        await Task.WhenAll(replies).WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. replies.Select(reply => ProbeResult.FromHash(reply.Result))];
    }

    /// <summary>The settings of many frontends in one pipelined round trip (<see cref="Balancing.Default"/> where none).</summary>
    public async Task<Balancing[]> GetBalancingsAsync(IReadOnlyList<string> frontendKeys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frontendKeys);
        var batch = connections.Read.CreateBatch();
        var replies = frontendKeys.Select(key => batch.HashGetAllAsync(connections.Keys.Balancing(key))).ToArray();
        batch.Execute();
        await Task.WhenAll(replies).WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. replies.Select(reply => Balancing.FromHash(reply.Result))];
    }

    /// <summary>A frontend's balancing settings (<see cref="Balancing.Default"/> when it has none).</summary>
    public async Task<Balancing> GetBalancingAsync(string frontendKey, CancellationToken cancellationToken = default) =>
        Balancing.FromHash(await connections.Read.HashGetAllAsync(connections.Keys.Balancing(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Dead indexes of a frontend key and the time their set expires (all members expire together).</summary>
    public async Task<(IReadOnlySet<int> Indexes, DateTimeOffset? ExpiresAt)> GetDeadAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var key = connections.Keys.Dead(frontendKey);
        var batch = connections.Read.CreateBatch();
        var members = batch.SetMembersAsync(key);
        var ttl = batch.KeyTimeToLiveAsync(key);
        batch.Execute();
        await Task.WhenAll(members, ttl).WaitAsync(cancellationToken).ConfigureAwait(false);
        var remaining = ttl.Result;
        return (ParseIndexes(members.Result), remaining is { } r ? DateTimeOffset.UtcNow + r : null);
    }

    /// <summary>Decimal indexes as Hipache parses them; anything that is not one is ignored.</summary>
    private static IReadOnlySet<int> ParseIndexes(RedisValue[] members)
    {
        if (members.Length == 0)
        {
            return NoDeadIndexes;
        }

        var set = new HashSet<int>(members.Length);
        foreach (var member in members)
        {
            if (int.TryParse(member.ToString(), NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var index) && index >= 0)
            {
                set.Add(index);
            }
        }

        return set;
    }
}
