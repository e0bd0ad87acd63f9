using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// Which hostnames belong to which app, kept by the admin API next to (never inside) the
/// <c>frontend:</c> lists: a set of hosts per app (<see cref="RouteKeys.App"/>) and a sorted set
/// of app names, all scores 0 so that it pages in name order (<see cref="RouteKeys.AppIndexKey"/>).
/// The frontend lists stay the truth: anyone with redis-cli can change them, so readers verify
/// every indexed host against its list's identifier and repair the index (see callers). Each
/// command touches one key, so that Redis Cluster works; the index is a hint, not a transaction.
/// </summary>
public sealed class AppIndex(RedisConnections connections)
{
    public async Task AddHostsAsync(string app, IReadOnlyCollection<string> hosts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var batch = connections.Write.CreateBatch();
        var tasks = new List<Task> { batch.SortedSetAddAsync(connections.Keys.AppIndexKey, app, 0) };
        if (hosts.Count > 0)
        {
            tasks.Add(batch.SetAddAsync(connections.Keys.App(app), [.. hosts.Select(h => (RedisValue)h)]));
        }

        batch.Execute();
        await Task.WhenAll(tasks).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RemoveHostsAsync(string app, IReadOnlyCollection<string> hosts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        if (hosts.Count > 0)
        {
            await connections.Write.SetRemoveAsync(connections.Keys.App(app), [.. hosts.Select(h => (RedisValue)h)]).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether the app is registered, and the hosts indexed for it (unverified).</summary>
    public async Task<(bool Registered, IReadOnlyList<string> Hosts)> ReadAsync(string app, CancellationToken cancellationToken = default)
    {
        var batch = connections.Write.CreateBatch();
        var score = batch.SortedSetScoreAsync(connections.Keys.AppIndexKey, app);
        var hosts = batch.SetMembersAsync(connections.Keys.App(app));
        batch.Execute();
        await Task.WhenAll(score, hosts).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (score.Result.HasValue, [.. hosts.Result.Select(h => h.ToString()).Order(StringComparer.Ordinal)]);
    }

    /// <summary>
    /// The current lists of <paramref name="hosts"/>, null where there is none. Read from the write
    /// connection: this verifies what was just written there, and a replica may lag behind it.
    /// </summary>
    public async Task<IReadOnlyList<Frontend?>> GetFrontendsAsync(IReadOnlyList<string> hosts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var found = await FrontendLists.ReadAsync(connections.Write, connections.Keys, [.. hosts.Select(connections.Keys.Frontend)], cancellationToken).ConfigureAwait(false);
        var byHost = found.ToDictionary(f => f.Key, StringComparer.Ordinal);
        return [.. hosts.Select(h => byHost.GetValueOrDefault(h))];
    }

    /// <summary>Up to <paramref name="limit"/> app names after <paramref name="after"/> in ordinal order, and whether more follow.</summary>
    public async Task<(IReadOnlyList<string> Names, bool More)> ListAsync(string? after, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        // One more than asked for says whether there is a next page without another round trip.
        var names = await connections.Write.SortedSetRangeByValueAsync(
            connections.Keys.AppIndexKey, after is null ? default : after, default, after is null ? Exclude.None : Exclude.Start, Order.Ascending, 0, limit + 1)
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return ([.. names.Take(limit).Select(n => n.ToString())], names.Length > limit);
    }

    /// <summary>Forgets the app: its host set and its name.</summary>
    public async Task RemoveAppAsync(string app, CancellationToken cancellationToken = default)
    {
        var batch = connections.Write.CreateBatch();
        var hosts = batch.KeyDeleteAsync(connections.Keys.App(app));
        var name = batch.SortedSetRemoveAsync(connections.Keys.AppIndexKey, app);
        batch.Execute();
        await Task.WhenAll(hosts, name).WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
