using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// Every write to the routing table. Each change touches one <c>frontend:</c> key atomically
/// (MULTI/EXEC or a script on that single key, so that Redis Cluster works) and then publishes
/// the frontend key on <see cref="RouteKeys.ChangeChannel"/> so that routers drop their cached copy.
/// </summary>
public sealed class RouteWriter(RedisConnections connections)
{
    // Appends the URL unless the list already holds it. Returns -1 when the frontend does not
    // exist, 0 when the URL was already there, else the new length.
    private static readonly LuaScript AddBackendScript = LuaScript.Prepare("""
        if redis.call('EXISTS', @key) == 0 then return -1 end
        local items = redis.call('LRANGE', @key, 1, -1)
        for _, item in ipairs(items) do
          if item == @url then return 0 end
        end
        return redis.call('RPUSH', @key, @url)
        """);

    // Removes the first occurrence of the URL among the backends (never the identifier).
    // Returns -1 when the frontend does not exist, -2 when the URL is absent, else its former backend index.
    private static readonly LuaScript RemoveBackendScript = LuaScript.Prepare("""
        if redis.call('EXISTS', @key) == 0 then return -1 end
        local items = redis.call('LRANGE', @key, 0, -1)
        for i = 2, #items do
          if items[i] == @url then
            redis.call('LSET', @key, i - 1, '__hipache_aspire_removed__')
            redis.call('LREM', @key, 1, '__hipache_aspire_removed__')
            return i - 2
          end
        end
        return -2
        """);

    // The checks every conditional script starts with, on the one frontend key. ARGV[1]: the
    // If-Match condition ('' none, '*' exists, else comma-separated tags); ARGV[2]: the identifier
    // the list must have if it exists ('' none). Refusals return {-1 | -2, identifier, tag}.
    private const string ConditionPrelude = FrontendTag.LuaFunction + """

        local current = redis.call('LRANGE', KEYS[1], 0, -1)
        local existed = #current > 0
        local currentTag = ''
        if existed then currentTag = tag(current) end
        local owner = current[1] or ''
        if ARGV[1] ~= '' then
          if not existed then return {-1, owner, currentTag} end
          if ARGV[1] ~= '*' and string.find(',' .. ARGV[1] .. ',', ',' .. currentTag .. ',', 1, true) == nil then
            return {-1, owner, currentTag}
          end
        end
        if ARGV[2] ~= '' and existed and owner ~= ARGV[2] then return {-2, owner, currentTag} end

        """;

    // Replaces the list with ARGV[3..] (identifier, backends) unless it already is exactly that.
    // Returns {0 created | 1 replaced | 2 unchanged, previous identifier, new tag}.
    private const string ConditionalWriteScript = ConditionPrelude + """
        local wanted = {}
        for i = 3, #ARGV do wanted[#wanted + 1] = ARGV[i] end
        local newTag = tag(wanted)
        if newTag == currentTag then return {2, owner, newTag} end
        redis.call('DEL', KEYS[1])
        for i = 1, #wanted do redis.call('RPUSH', KEYS[1], wanted[i]) end
        if existed then return {1, owner, newTag} end
        return {0, owner, newTag}
        """;

    // Returns {3 deleted | 4 not found, previous identifier, previous tag}.
    private const string ConditionalDeleteScript = ConditionPrelude + """
        if not existed then return {4, '', ''} end
        redis.call('DEL', KEYS[1])
        return {3, owner, currentTag}
        """;

    // Appends ARGV[3] unless a backend already is it. Returns {1 changed | 2 unchanged | 4 not found, identifier, tag after}.
    private const string ConditionalAddScript = ConditionPrelude + """
        if not existed then return {4, '', ''} end
        for i = 2, #current do
          if current[i] == ARGV[3] then return {2, owner, currentTag} end
        end
        redis.call('RPUSH', KEYS[1], ARGV[3])
        current[#current + 1] = ARGV[3]
        return {1, owner, tag(current)}
        """;

    // Removes the first backend equal to ARGV[3] (never the identifier). Returns
    // {1 changed, identifier, tag after, former backend index} | {4 not found} | {5 backend not found, identifier, tag}.
    private const string ConditionalRemoveScript = ConditionPrelude + """
        if not existed then return {4, '', ''} end
        for i = 2, #current do
          if current[i] == ARGV[3] then
            redis.call('LSET', KEYS[1], i - 1, '__hipache_aspire_removed__')
            redis.call('LREM', KEYS[1], 1, '__hipache_aspire_removed__')
            table.remove(current, i)
            return {1, owner, tag(current), i - 2}
          end
        end
        return {5, owner, currentTag}
        """;

    public RouteKeys Keys => connections.Keys;

    /// <summary>Creates or replaces a frontend list atomically (one transaction on its key). Returns true when it existed before.</summary>
    public async Task<bool> ReplaceFrontendAsync(string frontendKey, string identifier, IReadOnlyList<string> backends, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backends);
        var key = connections.Keys.Frontend(frontendKey);
        var values = new RedisValue[backends.Count + 1];
        values[0] = identifier;
        for (var i = 0; i < backends.Count; i++)
        {
            values[i + 1] = backends[i];
        }

        // The transaction touches the frontend key only: frontend:<k> and dead:<k> hash to
        // different Redis Cluster slots, so one MULTI over both would fail there (CROSSSLOT).
        var transaction = connections.Write.CreateTransaction();
        var existed = transaction.KeyDeleteAsync(key);
        _ = transaction.ListRightPushAsync(key, values);
        await ExecuteAsync(transaction, cancellationToken).ConfigureAwait(false);
        // The old dead indexes describe the old list; keeping them would eject the wrong backends (Q13).
        await connections.Write.KeyDeleteAsync(connections.Keys.Dead(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        return await existed.ConfigureAwait(false);
    }

    // Replaces the list on KEYS[1] with ARGV (identifier, backends): one script, so atomic.
    private const string ReplaceListScript = """
        redis.call('DEL', KEYS[1])
        return redis.call('RPUSH', KEYS[1], unpack(ARGV))
        """;

    /// <summary>
    /// Creates or replaces many frontends, pipelined in one batch: the same outcome per frontend
    /// as <see cref="ReplaceFrontendAsync"/> (list replaced atomically by one script on its one
    /// key, dead set dropped, change published), without a round trip per frontend. For seeding a
    /// large table (bench/BenchTools loads a million frontends with it) and migrations.
    /// </summary>
    public async Task ReplaceFrontendsAsync(IReadOnlyList<Frontend> frontends, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frontends);
        var channel = RedisChannel.Literal(connections.Keys.ChangeChannel);
        var batch = connections.Write.CreateBatch();
        var tasks = new Task[frontends.Count * 3];
        for (var i = 0; i < frontends.Count; i++)
        {
            var frontend = frontends[i];
            var values = new RedisValue[frontend.Backends.Count + 1];
            values[0] = frontend.Identifier;
            for (var b = 0; b < frontend.Backends.Count; b++)
            {
                values[b + 1] = frontend.Backends[b];
            }

            // Same order as the single write: the list, then its dead set (another key, another
            // Cluster slot), then the change message.
            tasks[3 * i] = batch.ScriptEvaluateAsync(ReplaceListScript, [connections.Keys.Frontend(frontend.Key)], values);
            tasks[(3 * i) + 1] = batch.KeyDeleteAsync(connections.Keys.Dead(frontend.Key));
            tasks[(3 * i) + 2] = batch.PublishAsync(channel, frontend.Key);
        }

        batch.Execute();
        await Task.WhenAll(tasks).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates or replaces a frontend list if <paramref name="condition"/> holds, compared and
    /// written by one script on the frontend key (atomic, and single-key for Redis Cluster). A list
    /// that already is exactly the wanted one is left alone, dead marks included. After a change,
    /// the dead set (positions in the old list) is dropped and the change published.
    /// </summary>
    public async Task<FrontendWriteResult> WriteFrontendAsync(
        string frontendKey, string identifier, IReadOnlyList<string> backends, FrontendCondition condition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backends);
        var args = new RedisValue[backends.Count + 3];
        args[0] = condition.IfMatch ?? string.Empty;
        args[1] = condition.Owner ?? string.Empty;
        args[2] = identifier;
        for (var i = 0; i < backends.Count; i++)
        {
            args[i + 3] = backends[i];
        }

        var (result, _) = await EvaluateConditionalAsync(ConditionalWriteScript, frontendKey, args, cancellationToken).ConfigureAwait(false);
        if (result.Outcome is FrontendOutcome.Created or FrontendOutcome.Replaced)
        {
            await AfterListChangedAsync(frontendKey, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>Deletes a frontend if <paramref name="condition"/> holds (one script), then its dead set and balancing settings, then publishes.</summary>
    public async Task<FrontendWriteResult> DeleteFrontendAsync(string frontendKey, FrontendCondition condition, CancellationToken cancellationToken = default)
    {
        RedisValue[] args = [condition.IfMatch ?? string.Empty, condition.Owner ?? string.Empty];
        var (result, _) = await EvaluateConditionalAsync(ConditionalDeleteScript, frontendKey, args, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == FrontendOutcome.Deleted)
        {
            // A frontend created later under this name starts from Hipache's random choice.
            await connections.Write.KeyDeleteAsync(connections.Keys.Balancing(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
            await AfterListChangedAsync(frontendKey, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>Deletes a frontend, its dead set and its balancing settings. Returns false when it did not exist.</summary>
    public async Task<bool> DeleteFrontendAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var deleted = await connections.Write.KeyDeleteAsync(connections.Keys.Frontend(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await connections.Write.KeyDeleteAsync(connections.Keys.Dead(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await connections.Write.KeyDeleteAsync(connections.Keys.Balancing(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (deleted)
        {
            await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        }

        return deleted;
    }

    public async Task<BackendChange> AddBackendAsync(string frontendKey, string url, CancellationToken cancellationToken = default)
    {
        var result = (long)await AddBackendScript.EvaluateAsync(connections.Write, new { key = (RedisKey)connections.Keys.Frontend(frontendKey), url = (RedisValue)url })
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (result > 0)
        {
            await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        }

        return result switch { -1 => BackendChange.FrontendNotFound, 0 => BackendChange.Unchanged, _ => BackendChange.Changed };
    }

    public async Task<BackendChange> RemoveBackendAsync(string frontendKey, string url, CancellationToken cancellationToken = default)
    {
        var result = (long)await RemoveBackendScript.EvaluateAsync(connections.Write, new { key = (RedisKey)connections.Keys.Frontend(frontendKey), url = (RedisValue)url })
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        if (result == -1)
        {
            return BackendChange.FrontendNotFound;
        }

        if (result == -2)
        {
            return BackendChange.BackendNotFound;
        }

        // Indexes after the removed one shifted down by one: marks at or past it now point at
        // other backends, so they are dropped rather than left to eject a healthy one (Q13).
        await ClearDeadFromAsync(frontendKey, (int)result, cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        return BackendChange.Changed;
    }

    /// <summary>
    /// <see cref="AddBackendAsync(string, string, CancellationToken)"/> under a condition, returning the
    /// list's tag afterwards: <see cref="FrontendOutcome.Replaced"/> when appended,
    /// <see cref="FrontendOutcome.Unchanged"/> when already there. Compared and appended by one script.
    /// </summary>
    public async Task<FrontendWriteResult> AddBackendAsync(string frontendKey, string url, FrontendCondition condition, CancellationToken cancellationToken = default)
    {
        RedisValue[] args = [condition.IfMatch ?? string.Empty, condition.Owner ?? string.Empty, url];
        var (result, _) = await EvaluateConditionalAsync(ConditionalAddScript, frontendKey, args, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == FrontendOutcome.Replaced)
        {
            await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>
    /// <see cref="RemoveBackendAsync(string, string, CancellationToken)"/> under a condition, returning the
    /// list's tag afterwards; <see cref="FrontendOutcome.BackendNotFound"/> when no backend is the URL.
    /// </summary>
    public async Task<FrontendWriteResult> RemoveBackendAsync(string frontendKey, string url, FrontendCondition condition, CancellationToken cancellationToken = default)
    {
        RedisValue[] args = [condition.IfMatch ?? string.Empty, condition.Owner ?? string.Empty, url];
        var (result, removedIndex) = await EvaluateConditionalAsync(ConditionalRemoveScript, frontendKey, args, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == FrontendOutcome.Replaced)
        {
            // Same rule as the unconditional removal: marks at or past the removed index now point at other backends (Q13).
            await ClearDeadFromAsync(frontendKey, (int)removedIndex!.Value, cancellationToken).ConfigureAwait(false);
            await PublishChangeAsync(frontendKey).ConfigureAwait(false);
        }

        return result;
    }

    // Hipache re-issues EXPIRE on the whole dead set at every mark (all members expire together).
    // Ejections of different lengths share the key, so a mark only ever lengthens the TTL: a short
    // one must not cut a longer ejection of another member short. Equal TTLs: Hipache's behaviour.
    // One script with the SADD: no reader ever sees the set without its TTL, and a connection lost
    // between two commands cannot leave a mark that never expires.
    private const string MarkDeadScript = """
        redis.call('SADD', KEYS[1], ARGV[2])
        local remaining = redis.call('PTTL', KEYS[1])
        if remaining < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return remaining
        """;

    /// <summary>
    /// Hipache's dead mark (hipache-compat 2.5, 2.7): SADD + a TTL that only ever lengthens (MarkDeadScript, atomic) on <c>dead:&lt;key&gt;</c> (only in
    /// passive mode, i.e. when no active checker is alive), then PUBLISH on <c>dead</c>.
    /// </summary>
    public async Task MarkDeadAsync(string deadKey, string backendHref, int index, int backendCount, TimeSpan ttl, bool writeDeadSet)
    {
        var message = string.Create(CultureInfo.InvariantCulture, $"{deadKey};{backendHref};{index};{backendCount}");
        var batch = connections.Write.CreateBatch();
        var tasks = new List<Task>(2);
        if (writeDeadSet)
        {
            var key = connections.Keys.Dead(deadKey);
            tasks.Add(batch.ScriptEvaluateAsync(MarkDeadScript, [key], [(long)ttl.TotalMilliseconds, index]));
        }

        tasks.Add(batch.PublishAsync(RedisChannel.Literal(RouteKeys.DeadChannel), message));
        batch.Execute();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>The value of <c>hchecker_ping</c> (an active checker's heartbeat), or null when missing.</summary>
    public async Task<string?> ReadCheckerHeartbeatAsync(CancellationToken cancellationToken = default)
    {
        var value = await connections.Read.StringGetAsync(RouteKeys.CheckerHeartbeatKey).WaitAsync(cancellationToken).ConfigureAwait(false);
        return value.IsNull ? null : value.ToString();
    }

    /// <summary>
    /// Replaces a frontend's balancing settings (one transaction on their own key; the default,
    /// random, is stored as no key at all), then publishes the frontend key so routers re-read it.
    /// </summary>
    public async Task SetBalancingAsync(string frontendKey, Balancing balancing, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(balancing);
        var key = connections.Keys.Balancing(frontendKey);
        // Every balancing field goes, the HTTPS fields stay: one script on one key, atomic on
        // Redis, Redis Cluster and Garnet alike.
        var fields = balancing.IsDefault ? [] : balancing.ToHash().SelectMany(e => new[] { e.Name, e.Value }).ToArray();
        await connections.Write.ScriptEvaluateAsync(ReplaceBalancingScript, [key], fields).WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(frontendKey).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets a frontend's HTTPS behaviour, keeping its balancing; <see cref="HttpsPolicy.None"/> removes it.</summary>
    public async Task SetHttpsAsync(string frontendKey, HttpsPolicy https, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(https);
        var key = connections.Keys.Balancing(frontendKey);
        var transaction = connections.Write.CreateTransaction();
        _ = https.Redirect ? transaction.HashSetAsync(key, HttpsPolicy.RedirectField, 1) : transaction.HashDeleteAsync(key, HttpsPolicy.RedirectField);
        _ = https.Hsts is { } hsts ? transaction.HashSetAsync(key, HttpsPolicy.HstsField, hsts) : transaction.HashDeleteAsync(key, HttpsPolicy.HstsField);
        await ExecuteAsync(transaction, cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(frontendKey).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private const string ReplaceBalancingScript = """
        for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
          if field ~= 'https-redirect' and field ~= 'hsts' then redis.call('HDEL', KEYS[1], field) end
        end
        for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
        return 1
        """;

    /// <summary>
    /// The shared sticky-session signing key: <paramref name="candidate"/> if none was set yet
    /// (first SET NX wins, also after a FLUSHALL), else the one every other router uses.
    /// </summary>
    public async Task<string> ClaimStickySecretAsync(string candidate, CancellationToken cancellationToken = default)
    {
        var key = connections.Keys.StickySecretKey;
        var current = (string?)await connections.Write.StringGetAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (current is not null)
        {
            return current;
        }

        await connections.Write.StringSetAsync(key, candidate, when: When.NotExists).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (string?)await connections.Write.StringGetAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false) ?? candidate;
    }

    // One lease key: take it when free, extend it when it is ours. Returns 1 when ours.
    private const string LeaseScript = """
        local owner = redis.call('GET', KEYS[1])
        if not owner then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 1
        end
        if owner == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    /// <summary>
    /// Takes or extends the probe lease of each backend URL for <paramref name="owner"/>, one
    /// single-key script per URL in pipelined batches (so that it works across Cluster slots).
    /// Returns which leases <paramref name="owner"/> holds now.
    /// </summary>
    public async Task<bool[]> ClaimCheckLeasesAsync(IReadOnlyList<string> backendUrls, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backendUrls);
        var replies = new Task<RedisResult>[backendUrls.Count];
        var milliseconds = (long)ttl.TotalMilliseconds;
        const int batchSize = 1000;
        for (var start = 0; start < backendUrls.Count; start += batchSize)
        {
            var batch = connections.Write.CreateBatch();
            for (var i = start; i < Math.Min(start + batchSize, backendUrls.Count); i++)
            {
                replies[i] = batch.ScriptEvaluateAsync(LeaseScript, [connections.Keys.CheckLease(backendUrls[i])], [owner, milliseconds]);
            }

            batch.Execute();
        }

        await Task.WhenAll(replies).WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. replies.Select(r => (long)r.Result == 1)];
    }

    /// <summary>Records a probe's result for whoever looks (the admin API), expiring after <paramref name="ttl"/>.</summary>
    public Task RecordProbeAsync(string backendUrl, ProbeResult result, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(result);
        var key = connections.Keys.BackendHealth(backendUrl);
        var batch = connections.Write.CreateBatch();
        var set = batch.HashSetAsync(key, result.ToHash());
        var expire = batch.KeyExpireAsync(key, ttl);
        batch.Execute();
        return Task.WhenAll(set, expire);
    }

    /// <summary>An active checker's heartbeat: <c>hchecker_ping</c> = Unix seconds, as hipache-hchecker writes it.</summary>
    public Task WriteCheckerHeartbeatAsync(DateTimeOffset now, CancellationToken cancellationToken = default) =>
        connections.Write.StringSetAsync(RouteKeys.CheckerHeartbeatKey, now.ToUnixTimeSeconds()).WaitAsync(cancellationToken);

    /// <summary>Takes <paramref name="index"/> out of a dead set (a checker saw the backend recover) and tells the routers.</summary>
    public async Task ClearDeadAsync(string deadKey, int index, CancellationToken cancellationToken = default)
    {
        await connections.Write.SetRemoveAsync(connections.Keys.Dead(deadKey), index).WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(deadKey).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops every dead mark of a frontend (an operator knows the backends are back) and tells the routers. False when there were none.</summary>
    public async Task<bool> ClearAllDeadAsync(string frontendKey, CancellationToken cancellationToken = default)
    {
        var cleared = await connections.Write.KeyDeleteAsync(connections.Keys.Dead(frontendKey)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await PublishChangeAsync(frontendKey).WaitAsync(cancellationToken).ConfigureAwait(false);
        return cleared;
    }

    public Task PublishChangeAsync(string frontendKey) =>
        connections.Write.PublishAsync(RedisChannel.Literal(connections.Keys.ChangeChannel), frontendKey);

    /// <summary>Runs a conditional script; the second value is its optional fourth reply element (a removed index).</summary>
    private async Task<(FrontendWriteResult Result, long? Extra)> EvaluateConditionalAsync(string script, string frontendKey, RedisValue[] args, CancellationToken cancellationToken)
    {
        var reply = (RedisResult[])(await connections.Write.ScriptEvaluateAsync(script, [connections.Keys.Frontend(frontendKey)], args)
            .WaitAsync(cancellationToken).ConfigureAwait(false))!;
        var outcome = (long)reply[0] switch
        {
            0 => FrontendOutcome.Created,
            1 => FrontendOutcome.Replaced,
            2 => FrontendOutcome.Unchanged,
            3 => FrontendOutcome.Deleted,
            4 => FrontendOutcome.NotFound,
            5 => FrontendOutcome.BackendNotFound,
            -1 => FrontendOutcome.PreconditionFailed,
            _ => FrontendOutcome.OwnerConflict,
        };
        var previous = (string?)reply[1];
        var tag = (string?)reply[2];
        var result = new FrontendWriteResult(outcome, string.IsNullOrEmpty(previous) ? null : previous, string.IsNullOrEmpty(tag) ? null : tag);
        return (result, reply.Length > 3 ? (long)reply[3] : null);
    }

    /// <summary>
    /// Dead indexes are positions in the list that just changed, so they are dropped (Q13). A
    /// separate command because <c>dead:</c> is another key (another slot in Redis Cluster); a
    /// router reading in between sees old marks for at most one round trip.
    /// </summary>
    private async Task AfterListChangedAsync(string frontendKey, CancellationToken cancellationToken)
    {
        // One round trip: a batch keeps the order (the DEL before the PUBLISH) on the one connection.
        var batch = connections.Write.CreateBatch();
        var dead = batch.KeyDeleteAsync(connections.Keys.Dead(frontendKey));
        var published = batch.PublishAsync(RedisChannel.Literal(connections.Keys.ChangeChannel), frontendKey);
        batch.Execute();
        await Task.WhenAll(dead, published).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task ClearDeadFromAsync(string frontendKey, int firstShiftedIndex, CancellationToken cancellationToken)
    {
        var key = connections.Keys.Dead(frontendKey);
        var members = await connections.Write.SetMembersAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        var stale = members
            .Where(m => int.TryParse(m.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i >= firstShiftedIndex)
            .ToArray();
        if (stale.Length > 0)
        {
            await connections.Write.SetRemoveAsync(key, stale).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(ITransaction transaction, CancellationToken cancellationToken)
    {
        if (!await transaction.ExecuteAsync().WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new RedisException("The Redis transaction was not applied.");
        }
    }
}

public enum BackendChange
{
    Changed,
    Unchanged,
    FrontendNotFound,
    BackendNotFound,
}
