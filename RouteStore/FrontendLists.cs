using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>Reads many frontend lists at once, for listings and app views (never on the routing hot path).</summary>
internal static class FrontendLists
{
    /// <summary>
    /// One pipelined LRANGE per full Redis key, results in key order; keys that are missing, empty
    /// or hold something other than a list (a redis-cli accident) are left out.
    /// </summary>
    public static async Task<IReadOnlyList<Frontend>> ReadAsync(IDatabase db, RouteKeys keys, IReadOnlyList<string> redisKeys, CancellationToken cancellationToken)
    {
        var batch = db.CreateBatch();
        var reads = redisKeys.Select(k => batch.ListRangeAsync(k)).ToArray();
        batch.Execute();
        try
        {
            await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException)
        {
            // WRONGTYPE on one key; the others are still good and are read below.
        }

        var frontends = new List<Frontend>(redisKeys.Count);
        for (var i = 0; i < redisKeys.Count; i++)
        {
            if (reads[i].IsCompletedSuccessfully && reads[i].Result is { Length: > 0 } list)
            {
                frontends.Add(new Frontend(keys.FrontendKeyOf(redisKeys[i])!, list[0].ToString(), [.. list.Skip(1).Select(v => v.ToString())]));
            }
        }

        return frontends;
    }
}
