using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>Reads the routing table: one pipelined round trip per lookup (hipache-compat 2.7).</summary>
public sealed class RouteReader(RedisConnections connections)
{
    private static readonly IReadOnlySet<int> NoDeadIndexes = new HashSet<int>();

    public RouteKeys Keys => connections.Keys;

    /// <summary>
    /// Reads every candidate list and every candidate's dead set in one pipelined batch (plain
    /// pipeline, not MULTI, so that it works across Redis Cluster slots) and returns the first
    /// non-empty list, or null when none matched.
    /// </summary>
    public async Task<FrontendMatch?> LookupAsync(IReadOnlyList<string> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var db = connections.Read;
        var batch = db.CreateBatch();
        var lists = new Task<RedisValue[]>[candidates.Count];
        var deads = new Task<RedisValue[]>[candidates.Count];
        for (var i = 0; i < candidates.Count; i++)
        {
            lists[i] = batch.ListRangeAsync(connections.Keys.Frontend(candidates[i]));
            deads[i] = batch.SetMembersAsync(connections.Keys.Dead(candidates[i]));
        }

        batch.Execute();
        await Task.WhenAll(lists).WaitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(deads).WaitAsync(cancellationToken).ConfigureAwait(false);

        for (var i = 0; i < candidates.Count; i++)
        {
            var list = lists[i].Result;
            if (list.Length == 0)
            {
                continue;
            }

            var backends = new string[list.Length - 1];
            for (var b = 0; b < backends.Length; b++)
            {
                backends[b] = list[b + 1].ToString();
            }

            var frontend = new Frontend(candidates[i], list[0].ToString(), backends);
            var matchedDead = ParseIndexes(deads[i].Result);
            var requestedDead = i == 0 ? matchedDead : ParseIndexes(deads[0].Result);
            return new FrontendMatch(frontend, matchedDead, requestedDead);
        }

        return null;
    }

    /// <summary>Reads one frontend list as it is, or null when the key is missing or empty.</summary>
    public async Task<Frontend?> GetFrontendAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var list = await connections.Read.ListRangeAsync(connections.Keys.Frontend(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        return list.Length == 0 ? null : new Frontend(frontendKey, list[0].ToString(), [.. list.Skip(1).Select(v => v.ToString())]);
    }

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
