using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Routing;

internal enum LookupStatus
{
    Found,
    NotFound,
    StoreUnavailable,
}

internal readonly record struct LookupResult(LookupStatus Status, RouteEntry? Route);

/// <summary>
/// Frontend key -> route or "not found", in memory, so that the steady state makes no Redis round
/// trip. A requested host walks its candidate keys (hipache-compat 3.2) through the cache without
/// allocating; a miss reads every candidate that is not fresh in one pipelined round trip, shared
/// with concurrent misses of the same keys.
/// <para>
/// Freshness: a change message or a keyspace notification of a route drops the key's slot and
/// reads it again at once (the next request finds it fresh); a dead-set change (its notification,
/// a dead message) reads it again too but keeps the slot as the stale-if-error copy; the lifetime is only the safety net,
/// Router:RouteCachePushTtl while <see cref="ChangeFeed"/> knows every change reaches the router,
/// Router:RouteCacheTtl otherwise, and a slot that is hit is refreshed in the background from half
/// its lifetime on (in batches), so a hot host never waits for Redis; a refresh that finds nothing
/// changed renews the slot in place. While Redis is
/// unreachable a slot is served stale for up to Router:MaxStaleness (Q20).
/// </para>
/// <para>
/// Size: found keys (Router:RouteCacheSize) and not-found keys (Router:RouteCacheNegativeSize) are
/// bounded apart, each by a CLOCK sweep off the request path, so a flood of random Host headers
/// only recycles not-found slots and never evicts the real table.
/// </para>
/// </summary>
internal sealed partial class RouteCache
{
    // Hosts longer than this build their wildcard keys on the heap instead of the stack.
    private const int MaxStackHost = 512;

    // A read that started before a change must not be cached as fresh: a change bumps its key's
    // stripe, and a read compares its key's stripe before and after.
    private const int EpochStripes = 4096;

    // Keys per refresh-ahead batch: one pipelined write of two commands each.
    private const int MaxRefreshBatch = 256;

    private readonly Table _found;
    private readonly Table _missing;
    private readonly ConcurrentDictionary<string, Task<KeySlot>> _inflight = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Key, TaskCompletionSource<KeySlot> Read)> _refreshQueue = new();
    private readonly long[] _epochs = new long[EpochStripes];
    private readonly RouteReader _reader;
    private readonly RouterMetrics _metrics;
    private readonly DeadMarkBook _marks;
    private readonly ChangeFeed _feed;
    private readonly BackendAddressPool _pool;
    private readonly ILogger<RouteCache> _logger;
    private readonly long _ttlMs;
    private readonly long _pushTtlMs;
    private readonly long _maxStaleMs;
    private readonly bool _hipacheMode;
    private readonly TimeSpan _lookupTimeout;

    // Q15: each backend URL whose scheme or path is ignored is reported once, not per lookup.
    private readonly ConcurrentDictionary<string, byte> _reportedIgnoredUrls = new(StringComparer.Ordinal);
    private const int MaxReportedUrls = 10_000;

    // Bumped when every entry must be read again (reconnect after missed messages, store replaced).
    private long _generation;
    private long _readSequence;

    // Refresh-ahead reads: 1 while a batch is being sent or is in flight.
    private int _sendingRefreshes;

    // With RouteStore:ReadFromReplicas only: when each key's change was last heard of, and when
    // every key was last invalidated (Environment.TickCount64). Reads within the replica lag bound
    // of those go to the primary, so that a replica behind the change cannot cache the old value.
    private readonly ConcurrentDictionary<string, long>? _changedAt;
    private readonly long _replicaLagMs;
    private long _allChangedAt;
    private const int MaxChangedKeys = 100_000;

    public RouteCache(RouteReader reader, IOptions<RouterOptions> options, IOptions<RouteStoreOptions> storeOptions, RouterMetrics metrics, DeadMarkBook marks, ChangeFeed feed, ILogger<RouteCache> logger)
    {
        _reader = reader;
        _metrics = metrics;
        _marks = marks;
        _feed = feed;
        _logger = logger;
        var o = options.Value;
        _ttlMs = (long)o.RouteCacheTtl.TotalMilliseconds;
        _pushTtlMs = Math.Max(_ttlMs, (long)o.RouteCachePushTtl.TotalMilliseconds);
        _maxStaleMs = (long)o.MaxStaleness.TotalMilliseconds;
        _hipacheMode = o.Compatibility == CompatibilityMode.Hipache;
        _lookupTimeout = storeOptions.Value.OperationTimeout;
        _found = new Table(o.RouteCacheSize, this);
        _missing = new Table(o.RouteCacheNegativeSize, this);
        _pool = new BackendAddressPool(Math.Max(1024, o.RouteCacheSize));
        _changedAt = reader.ReadsFromReplicas ? new ConcurrentDictionary<string, long>(StringComparer.Ordinal) : null;
        _replicaLagMs = (long)reader.ReplicaLagBound.TotalMilliseconds;
    }

    /// <summary>Keys cached, found and not found.</summary>
    public int Count => FoundCount + NotFoundCount;

    public int FoundCount => _found.Count;

    public int NotFoundCount => _missing.Count;

    /// <summary>The hot path: a fresh answer for the host from memory, without allocating.</summary>
    public bool TryGetFresh(ReadOnlySpan<char> host, out LookupResult result)
    {
        var now = Environment.TickCount64;
        var generation = Volatile.Read(ref _generation);
        var pushSince = _feed.PushSince;
        result = default;
        if (!TryFresh(host, now, generation, pushSince, out var exact))
        {
            return false;
        }

        if (exact.Route is { } own)
        {
            _metrics.CacheHit();
            result = new LookupResult(LookupStatus.Found, own);
            return true;
        }

        Span<int> suffixStarts = stackalloc int[CandidateKeys.MaxWildcardLabels];
        var suffixes = SuffixStarts(host, suffixStarts);
        var buffer = host.Length <= MaxStackHost ? stackalloc char[MaxStackHost + 2] : new char[host.Length + 2];
        buffer[0] = '*';
        buffer[1] = '.';
        for (var k = suffixes - 1; k >= 0; k--)
        {
            var suffix = host[suffixStarts[k]..];
            suffix.CopyTo(buffer[2..]);
            if (!TryFresh(buffer[..(suffix.Length + 2)], now, generation, pushSince, out var wildcard))
            {
                return false;
            }

            if (wildcard.Route is { } matched)
            {
                _metrics.CacheHit();
                result = new LookupResult(LookupStatus.Found, WithRequestedHostDead(exact, matched));
                return true;
            }
        }

        if (!host.SequenceEqual(CandidateKeys.CatchAll))
        {
            if (!TryFresh(CandidateKeys.CatchAll, now, generation, pushSince, out var catchAll))
            {
                return false;
            }

            if (catchAll.Route is { } fallback)
            {
                _metrics.CacheHit();
                result = new LookupResult(LookupStatus.Found, WithRequestedHostDead(exact, fallback));
                return true;
            }
        }

        _metrics.CacheHit();
        result = new LookupResult(LookupStatus.NotFound, null);
        return true;
    }

    public Task<LookupResult> LookupAsync(ReadOnlySpan<char> host, CancellationToken cancellationToken) =>
        TryGetFresh(host, out var result) ? Task.FromResult(result) : LoadAsync(host.ToString(), cancellationToken);

    /// <summary>
    /// Reads, in one round trip, every candidate that is not fresh up to the first fresh match,
    /// joining reads of the same keys already under way.
    /// </summary>
    private async Task<LookupResult> LoadAsync(string host, CancellationToken cancellationToken)
    {
        _metrics.CacheMiss();
        var candidates = CandidateKeys.For(host);
        var now = Environment.TickCount64;
        var generation = Volatile.Read(ref _generation);
        var pushSince = _feed.PushSince;
        var slots = new KeySlot?[candidates.Length];
        var reads = new Task<KeySlot>?[candidates.Length];
        List<string>? ownKeys = null;
        List<TaskCompletionSource<KeySlot>>? ownReads = null;
        for (var i = 0; i < candidates.Length; i++)
        {
            var cached = Find(candidates[i]);
            if (cached is not null && IsFresh(cached, now, generation, pushSince))
            {
                slots[i] = cached;
                if (cached.Route is not null)
                {
                    break;
                }

                continue;
            }

            if (_inflight.TryGetValue(candidates[i], out var shared))
            {
                reads[i] = shared;
                continue;
            }

            var read = new TaskCompletionSource<KeySlot>(TaskCreationOptions.RunContinuationsAsynchronously);
            var published = _inflight.GetOrAdd(candidates[i], read.Task);
            reads[i] = published;
            if (ReferenceEquals(published, read.Task))
            {
                (ownKeys ??= []).Add(candidates[i]);
                (ownReads ??= []).Add(read);
            }
        }

        if (ownKeys is not null)
        {
            _ = ReadAsync([.. ownKeys], [.. ownReads!]);
        }

        var failed = false;
        string? failure = null;
        for (var i = 0; i < reads.Length; i++)
        {
            if (reads[i] is not { } read)
            {
                continue;
            }

            try
            {
                slots[i] = await read.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Stale-if-error, per key: whatever was cached, while it is recent enough.
                var stale = Find(candidates[i]);
                if (stale is not null && Environment.TickCount64 - stale.ReadAt <= _maxStaleMs)
                {
                    slots[i] = stale;
                    failed = true;
                }
                else
                {
                    failure = ex.Message;
                }
            }
        }

        return Compose(host, slots, failed, failure);
    }

    private LookupResult Compose(string host, KeySlot?[] slots, bool servedStale, string? failure)
    {
        for (var i = 0; i < slots.Length; i++)
        {
            var slot = slots[i];
            if (slot is null)
            {
                if (failure is not null)
                {
                    LogStoreUnavailable(_logger, host, failure);
                    return new LookupResult(LookupStatus.StoreUnavailable, null);
                }

                continue;
            }

            if (slot.Route is { } route)
            {
                if (servedStale)
                {
                    _metrics.StaleServed();
                }

                return new LookupResult(LookupStatus.Found, i == 0 || slots[0] is not { } exact ? route : WithRequestedHostDead(exact, route));
            }
        }

        if (servedStale)
        {
            _metrics.StaleServed();
        }

        return new LookupResult(LookupStatus.NotFound, null);
    }

    /// <summary>Reads <paramref name="keys"/> (published in <see cref="_inflight"/> by the caller) and completes their reads.</summary>
    private async Task ReadAsync(string[] keys, TaskCompletionSource<KeySlot>[] reads)
    {
        var reading = ReadAndStoreAsync(keys);
        await ((Task)reading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        for (var i = 0; i < keys.Length; i++)
        {
            // Unpublished before it completes: a miss that comes after the answer starts a new read.
            _inflight.TryRemove(KeyValuePair.Create(keys[i], reads[i].Task));
            if (reading.IsCompletedSuccessfully)
            {
                reads[i].SetResult(reading.Result[i]);
            }
            else
            {
                reads[i].SetException(reading.Exception?.InnerExceptions ?? [new TimeoutException("The route read was cancelled.")]);
            }
        }
    }

    private async Task<KeySlot[]> ReadAndStoreAsync(string[] keys)
    {
        var readAt = Environment.TickCount64;
        var sequence = Interlocked.Increment(ref _readSequence);
        var generation = Volatile.Read(ref _generation);
        var epochs = new long[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            epochs[i] = Volatile.Read(ref _epochs[Stripe(keys[i])]);
        }

        FrontendRead[] answers;
        try
        {
            using var timeout = new CancellationTokenSource(_lookupTimeout);
            answers = await _reader.ReadFrontendsAsync(keys, fromPrimary: _changedAt is not null && ChangedLately(keys, readAt), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            throw new TimeoutException("The route lookup did not finish within RouteStore:OperationTimeout.", ex);
        }

        var slots = new KeySlot[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var answer = answers[i];
            ref var epoch = ref _epochs[Stripe(keys[i])];

            // A change that arrived while we were reading may not be in what we read: keep the
            // answer for this request (and as a stale copy), but make the next one read again.
            // Checked before and after the slot is stored or renewed, so an invalidation in
            // between is not lost. Nothing changed (the common refresh): the cached slot becomes
            // this read in place.
            KeySlot slot;
            if (Volatile.Read(ref epoch) == epochs[i] && Find(keys[i]) is { IsDemoted: false } current && Matches(current, answer)
                && current.TryRenew(readAt, sequence, generation))
            {
                slot = current;
            }
            else
            {
                slot = NewSlot(keys[i], answer, readAt, sequence, generation);
                if (Volatile.Read(ref epoch) != epochs[i])
                {
                    slot.Demote();
                }

                Store(slot);
            }

            if (Volatile.Read(ref epoch) != epochs[i])
            {
                slot.Demote();
            }

            slots[i] = slot;
        }

        // A key that changed while it was read is wanted (a request asked for it): read it again
        // now rather than at its next request. Bounded by the key's change rate.
        foreach (var slot in slots)
        {
            if (slot.IsDemoted)
            {
                Refresh(slot.Key);
            }
        }

        return slots;
    }

    /// <summary>
    /// Drops what a change of <paramref name="frontendKey"/> can affect, which is that key's slot
    /// only (hosts under a wildcard hold no copy of it), and reads it again at once when it was
    /// cached, so that the next request finds the change.
    /// </summary>
    public void Invalidate(string frontendKey)
    {
        _metrics.Invalidation();
        NoteChange(frontendKey);
        Interlocked.Increment(ref _epochs[Stripe(frontendKey)]);
        _inflight.TryRemove(frontendKey, out _);
        var removed = _found.Remove(frontendKey) | _missing.Remove(frontendKey);
        if (removed)
        {
            Refresh(frontendKey);
        }
    }

    /// <summary>
    /// Like <see cref="Invalidate"/>, but what was cached stays available as a stale copy: for
    /// this router's own dead marks. Those keep coming while Redis is down (a backend dies during
    /// the outage), and removing the entry then turned one dead backend into 503 for the whole
    /// host, its live backends included, until Redis was back (found by bench/soak.sh).
    /// </summary>
    public void Demote(string frontendKey)
    {
        _metrics.Invalidation();
        NoteChange(frontendKey);
        Interlocked.Increment(ref _epochs[Stripe(frontendKey)]);
        _inflight.TryRemove(frontendKey, out _);
        if (Find(frontendKey) is { } slot)
        {
            slot.Demote();
            Refresh(frontendKey);
        }
    }

    /// <summary>Every entry must be read again, but stays available as a stale copy if Redis fails.</summary>
    public void InvalidateAll()
    {
        Volatile.Write(ref _allChangedAt, Environment.TickCount64);
        Interlocked.Increment(ref _generation);
    }

    private void NoteChange(string frontendKey)
    {
        if (_changedAt is null)
        {
            return;
        }

        var now = Environment.TickCount64;
        if (_changedAt.Count >= MaxChangedKeys)
        {
            // Older than the bound, a change no longer matters: those go; if none is, all do, and
            // every read within the bound goes to the primary instead.
            foreach (var (key, at) in _changedAt)
            {
                if (now - at >= _replicaLagMs)
                {
                    _changedAt.TryRemove(key, out _);
                }
            }

            if (_changedAt.Count >= MaxChangedKeys)
            {
                _changedAt.Clear();
                Volatile.Write(ref _allChangedAt, now);
            }
        }

        _changedAt[frontendKey] = now;
    }

    /// <summary>Whether one of <paramref name="keys"/> (or every key) changed within the replica lag bound of <paramref name="now"/>.</summary>
    private bool ChangedLately(string[] keys, long now)
    {
        if (now - Volatile.Read(ref _allChangedAt) < _replicaLagMs)
        {
            return true;
        }

        foreach (var key in keys)
        {
            if (_changedAt!.TryGetValue(key, out var at) && now - at < _replicaLagMs)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The cached route of exactly <paramref name="frontendKey"/>, fresh or not (for its request rate); null when none is cached.</summary>
    public RouteEntry? CachedRoute(string frontendKey) => _found.TryGet(frontendKey, out var slot) ? slot.Route : null;

    /// <summary>
    /// A background read of one key, with no request waiting on it: after a change at once, on its
    /// own (<paramref name="ahead"/> false); ahead of expiry in the next batch (see <see cref="SendRefreshBatches"/>).
    /// </summary>
    private void Refresh(string key, bool ahead = false)
    {
        var read = new TaskCompletionSource<KeySlot>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!ReferenceEquals(_inflight.GetOrAdd(key, read.Task), read.Task))
        {
            return;
        }

        _metrics.Refreshed();
        // Nobody may await it: observe a failure here (Redis down, a read past OperationTimeout) and
        // let the next hit of the slot try again; a miss falls back to the stale copy.
        _ = read.Task.ContinueWith(
            static (t, state) =>
            {
                _ = t.Exception;
                var (cache, key) = ((RouteCache, string))state!;
                cache.Find(key)?.RefreshFailed();
            },
            (this, key),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        if (!ahead)
        {
            _ = ReadAsync([key], [read]);
            return;
        }

        _refreshQueue.Enqueue((key, read));
        if (Interlocked.CompareExchange(ref _sendingRefreshes, 1, 0) == 0)
        {
            SendRefreshBatches();
        }
    }

    /// <summary>
    /// Sends the queued refresh-ahead reads, up to <see cref="MaxRefreshBatch"/> keys per pipelined
    /// batch, one batch in flight at a time: what is queued while a batch is out goes in the next
    /// one when it lands. A large table in use is read about once per lifetime (thousands of keys a
    /// second for a million hosts); one at a time, each read cost two thread hops and a Redis
    /// round trip of its own. Idle, a single key still goes out at once, from the caller.
    /// </summary>
    private void SendRefreshBatches()
    {
        while (true)
        {
            List<string>? keys = null;
            List<TaskCompletionSource<KeySlot>>? reads = null;
            while ((keys?.Count ?? 0) < MaxRefreshBatch && _refreshQueue.TryDequeue(out var queued))
            {
                (keys ??= []).Add(queued.Key);
                (reads ??= []).Add(queued.Read);
            }

            if (keys is null)
            {
                Volatile.Write(ref _sendingRefreshes, 0);
                // A key queued after the queue looked empty, by a caller that saw the flag still set.
                if (_refreshQueue.IsEmpty || Interlocked.CompareExchange(ref _sendingRefreshes, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            var batch = ReadAsync([.. keys], [.. reads!]);
            if (!batch.IsCompleted)
            {
                _ = batch.ContinueWith(static (_, cache) => ((RouteCache)cache!).SendRefreshBatches(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return;
            }
        }
    }

    private bool TryFresh(ReadOnlySpan<char> key, long now, long generation, long pushSince, out KeySlot slot)
    {
        if (!_found.TryGet(key, out slot!) && !_missing.TryGet(key, out slot!))
        {
            return false;
        }

        if (slot.IsDemoted || slot.Generation != generation)
        {
            return false;
        }

        var (expiresAt, refreshAt) = Deadlines(slot, pushSince);
        if (now >= expiresAt)
        {
            return false;
        }

        slot.MarkReferenced();

        // Stale-while-revalidate: from its refresh age on, the first hit reads the key again in
        // the background; the hits meanwhile are still served from this slot.
        if (now >= refreshAt && !slot.IsRefreshing && slot.TryStartRefresh())
        {
            Refresh(slot.Key, ahead: true);
        }

        return true;
    }

    private bool IsFresh(KeySlot slot, long now, long generation, long pushSince) =>
        !slot.IsDemoted && slot.Generation == generation && now < Deadlines(slot, pushSince).ExpiresAt;

    /// <summary>
    /// When a slot stops being fresh and when a hit should refresh it: read in the current push
    /// period, RouteCachePushTtl; read in the push period that just ended, RouteCacheTtl from its
    /// end (refreshed at the next hit); otherwise RouteCacheTtl from the read. From half its
    /// lifetime a hit refreshes the slot: a host hit at least once per half lifetime never misses,
    /// and every slot in use is read about once per half lifetime (~6,700 keys/s for a million
    /// hosts in use at the default five minutes, batched, and renewed in place when unchanged).
    /// </summary>
    private (long ExpiresAt, long RefreshAt) Deadlines(KeySlot slot, long pushSince)
    {
        if (slot.ReadAt >= pushSince)
        {
            return (slot.ReadAt + _pushTtlMs, slot.ReadAt + (_pushTtlMs / 2));
        }

        var lostAt = _feed.LastPushLostAt;
        if (slot.ReadAt >= _feed.LastPushSince && slot.ReadAt <= lostAt)
        {
            return (lostAt + _ttlMs, lostAt);
        }

        return (slot.ReadAt + _ttlMs, slot.ReadAt + (_ttlMs / 2));
    }

    private KeySlot NewSlot(string key, FrontendRead answer, long readAt, long sequence, long generation)
    {
        if (!answer.Exists)
        {
            var requestedHostDead = _hipacheMode && answer.DeadIndexes.Count > 0 ? answer.DeadIndexes : null;
            return new NotFoundSlot(key, requestedHostDead, readAt, sequence, generation);
        }

        var route = new RouteEntry(key, answer, _pool, _marks, readAt, sequence, generation);
        ReportIgnoredParts(route);
        return route;
    }

    private bool Matches(KeySlot slot, FrontendRead read) => slot switch
    {
        RouteEntry route => route.Matches(read, _marks),
        NotFoundSlot missing => missing.Matches(read, _hipacheMode),
        _ => false,
    };

    private KeySlot? Find(string key) => _found.TryGet(key, out var slot) || _missing.TryGet(key, out slot) ? slot : null;

    private void Store(KeySlot slot)
    {
        var (into, other) = slot.Route is null ? (_missing, _found) : (_found, _missing);
        if (other.Newer(slot) || !into.Put(slot))
        {
            return;
        }

        other.RemoveOlder(slot);
    }

    private RouteEntry WithRequestedHostDead(KeySlot exact, RouteEntry matched)
    {
        if (exact is not NotFoundSlot { RequestedHostDead: { } dead } own)
        {
            return matched;
        }

        if (own.Merged is { } merged && ReferenceEquals(merged.From, matched))
        {
            return merged.Result;
        }

        var result = matched.WithRequestedHostDead(exact.Key, dead, _marks);
        own.Merged = new MergedRoute(matched, result);
        return result;
    }

    /// <summary>Starts of the wildcard suffixes of <paramref name="host"/>, from the shortest: see <see cref="CandidateKeys"/>.</summary>
    private static int SuffixStarts(ReadOnlySpan<char> host, Span<int> starts)
    {
        var found = 0;
        for (var i = host.Length - 1; i >= 0 && found < starts.Length; i--)
        {
            if (host[i] == '.')
            {
                starts[found++] = i + 1;
            }
        }

        return found;
    }

    private static int Stripe(string key) => (int)((uint)StringComparer.Ordinal.GetHashCode(key) % EpochStripes);

    private void ReportIgnoredParts(RouteEntry route)
    {
        foreach (var backend in route.Backends)
        {
            if (backend.HasIgnoredParts && _reportedIgnoredUrls.Count < MaxReportedUrls && _reportedIgnoredUrls.TryAdd(backend.Url, 0))
            {
                LogIgnoredParts(_logger, backend.Url, route.FrontendKey, backend.DestinationPrefix ?? "(invalid)");
            }
        }
    }

    private void OnSwept() => _metrics.Evicted();

    private void TrimPool() => _pool.Trim();

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Backend URL {Url} of {FrontendKey} has a scheme, path or user info that is ignored, as Hipache ignored it: traffic goes to {Destination} in plain HTTP")]
    private static partial void LogIgnoredParts(ILogger logger, string url, string frontendKey, string destination);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Route lookup for {Host} failed and no cached copy is recent enough: {Reason}")]
    private static partial void LogStoreUnavailable(ILogger logger, string host, string reason);

    /// <summary>
    /// One bounded half of the cache (found or not found): a dictionary with a count kept by its
    /// own adds and removes (ConcurrentDictionary.Count takes every lock) and a CLOCK sweep, run
    /// on the thread pool when the count passes the bound, that removes slots not hit since the
    /// hand last passed until a sixteenth of the bound is free.
    /// </summary>
    private sealed class Table
    {
        private readonly ConcurrentDictionary<string, KeySlot> _slots = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, KeySlot>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
        private readonly int _capacity;
        private readonly RouteCache _owner;
        private IEnumerator<KeyValuePair<string, KeySlot>>? _hand;
        private int _count;
        private int _sweeping;

        public Table(int capacity, RouteCache owner)
        {
            _capacity = capacity;
            _owner = owner;
            _bySpan = _slots.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public int Count => Math.Max(0, Volatile.Read(ref _count));

        public bool TryGet(ReadOnlySpan<char> key, out KeySlot slot) => _bySpan.TryGetValue(key, out slot!);

        public bool TryGet(string key, out KeySlot slot) => _slots.TryGetValue(key, out slot!);

        public bool Newer(KeySlot than) => _slots.TryGetValue(than.Key, out var slot) && slot.ReadSequence > than.ReadSequence;

        /// <summary>Stores the slot unless a newer read of its key is there. Returns whether it was stored.</summary>
        public bool Put(KeySlot slot)
        {
            while (true)
            {
                if (_slots.TryGetValue(slot.Key, out var old))
                {
                    if (old.ReadSequence > slot.ReadSequence)
                    {
                        return false;
                    }

                    if (_slots.TryUpdate(slot.Key, slot, old))
                    {
                        return true;
                    }
                }
                else if (_slots.TryAdd(slot.Key, slot))
                {
                    if (Interlocked.Increment(ref _count) > _capacity && Interlocked.CompareExchange(ref _sweeping, 1, 0) == 0)
                    {
                        ThreadPool.UnsafeQueueUserWorkItem(static table => table.Sweep(), this, preferLocal: false);
                    }

                    return true;
                }
            }
        }

        public bool Remove(string key)
        {
            if (_slots.TryRemove(key, out _))
            {
                Interlocked.Decrement(ref _count);
                return true;
            }

            return false;
        }

        public void RemoveOlder(KeySlot than)
        {
            if (_slots.TryGetValue(than.Key, out var slot) && slot.ReadSequence < than.ReadSequence && _slots.TryRemove(KeyValuePair.Create(than.Key, slot)))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        private void Sweep()
        {
            try
            {
                var target = _capacity - Math.Max(1, _capacity / 16);
                // Two turns of the hand at most: the first clears every bit, the second then finds victims.
                var budget = 2L * (Count + 1);
                while (Count > target && budget-- > 0)
                {
                    _hand ??= _slots.GetEnumerator();
                    if (!_hand.MoveNext())
                    {
                        _hand.Dispose();
                        _hand = null;
                        continue;
                    }

                    var (key, slot) = _hand.Current;
                    if (slot.IsReferenced)
                    {
                        slot.ClearReferenced();
                    }
                    else if (_slots.TryRemove(KeyValuePair.Create(key, slot)))
                    {
                        Interlocked.Decrement(ref _count);
                    }
                }

                _owner.TrimPool();
                _owner.OnSwept();
            }
            finally
            {
                Volatile.Write(ref _sweeping, 0);
            }
        }
    }
}
