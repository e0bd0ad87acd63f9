using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>What a router says about itself in the registry.</summary>
/// <param name="Id">Unique per process: host name, process id and a random suffix.</param>
/// <param name="Addresses">The routed listeners as bound (<c>http://127.0.0.1:8080</c>).</param>
/// <param name="Management">The management listener (health, metrics), when bound.</param>
/// <param name="CachedRoutes">Entries in its route cache, found and not-found.</param>
/// <param name="StoreMode">How it learns of changes: <c>push</c> or <c>poll</c>, with the reason.</param>
/// <param name="LastChange">The frontend key of the last change message it applied.</param>
public sealed record RouterAnnouncement(
    string Id,
    string Version,
    IReadOnlyList<string> Addresses,
    string? Management,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    long CachedRoutes,
    string StoreMode,
    string? LastChange,
    DateTimeOffset? LastChangeAt);

/// <summary>
/// The live routers on this routing table. Each router rewrites its hash
/// (<see cref="RouteKeys.RouterAnnouncement"/>) every heartbeat with a TTL of a few heartbeats and
/// keeps its id in <see cref="RouteKeys.RouterIndexKey"/>; a router that stops heartbeating (killed,
/// paused, cut off from Redis) drops out when its hash expires, and readers prune its id. Each
/// command touches one key, so the registry works on Redis Cluster too.
/// </summary>
public sealed class RouterRegistry(RedisConnections connections)
{
    private const char AddressSeparator = ' ';

    public async Task AnnounceAsync(RouterAnnouncement announcement, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(announcement);
        var key = connections.Keys.RouterAnnouncement(announcement.Id);
        var batch = connections.Write.CreateBatch();
        Task[] tasks =
        [
            batch.HashSetAsync(key, ToHash(announcement)),
            batch.KeyExpireAsync(key, ttl),
            batch.SetAddAsync(connections.Keys.RouterIndexKey, announcement.Id),
        ];
        batch.Execute();
        await Task.WhenAll(tasks).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A router that stops cleanly leaves at once instead of a TTL later.</summary>
    public async Task WithdrawAsync(string routerId, CancellationToken cancellationToken = default)
    {
        var batch = connections.Write.CreateBatch();
        Task[] tasks =
        [
            batch.KeyDeleteAsync(connections.Keys.RouterAnnouncement(routerId)),
            batch.SetRemoveAsync(connections.Keys.RouterIndexKey, routerId),
        ];
        batch.Execute();
        await Task.WhenAll(tasks).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every router whose announcement has not expired, by id; ids whose hash expired are pruned.</summary>
    public async Task<IReadOnlyList<RouterAnnouncement>> ListLiveAsync(CancellationToken cancellationToken = default)
    {
        var db = connections.Write;
        var ids = await db.SetMembersAsync(connections.Keys.RouterIndexKey).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (ids.Length == 0)
        {
            return [];
        }

        var batch = db.CreateBatch();
        var reads = ids.Select(id => batch.HashGetAllAsync(connections.Keys.RouterAnnouncement(id.ToString()))).ToArray();
        batch.Execute();
        var hashes = await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);

        var live = new List<RouterAnnouncement>(ids.Length);
        var gone = new List<RedisValue>();
        for (var i = 0; i < ids.Length; i++)
        {
            if (FromHash(ids[i].ToString(), hashes[i]) is { } announcement)
            {
                live.Add(announcement);
            }
            else
            {
                gone.Add(ids[i]);
            }
        }

        if (gone.Count > 0)
        {
            // A router that came back since re-adds itself on its next heartbeat.
            await db.SetRemoveAsync(connections.Keys.RouterIndexKey, [.. gone], CommandFlags.FireAndForget).ConfigureAwait(false);
        }

        live.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return live;
    }

    private static HashEntry[] ToHash(RouterAnnouncement a)
    {
        var fields = new List<HashEntry>
        {
            new("version", a.Version),
            new("addresses", string.Join(AddressSeparator, a.Addresses)),
            new("started-at", a.StartedAt.ToUnixTimeMilliseconds()),
            new("heartbeat-at", a.HeartbeatAt.ToUnixTimeMilliseconds()),
            new("cached-routes", a.CachedRoutes),
            new("store-mode", a.StoreMode),
            new("management", a.Management ?? string.Empty),
            new("last-change", a.LastChange ?? string.Empty),
            new("last-change-at", a.LastChangeAt?.ToUnixTimeMilliseconds() ?? 0),
        };
        return [.. fields];
    }

    private static RouterAnnouncement? FromHash(string id, HashEntry[] hash)
    {
        if (hash.Length == 0)
        {
            return null;
        }

        var map = hash.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        string Text(string name) => map.TryGetValue(name, out var value) ? value : string.Empty;
        long Number(string name) => long.TryParse(Text(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

        var lastChangeAt = Number("last-change-at");
        return new RouterAnnouncement(
            id,
            Text("version"),
            Text("addresses").Split(AddressSeparator, StringSplitOptions.RemoveEmptyEntries),
            Text("management") is { Length: > 0 } management ? management : null,
            DateTimeOffset.FromUnixTimeMilliseconds(Number("started-at")),
            DateTimeOffset.FromUnixTimeMilliseconds(Number("heartbeat-at")),
            Number("cached-routes"),
            Text("store-mode"),
            Text("last-change") is { Length: > 0 } change ? change : null,
            lastChangeAt > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(lastChangeAt) : null);
    }
}
