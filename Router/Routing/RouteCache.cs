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
/// Requested host -> route, in memory, so that the steady state makes no Redis round trip. A miss
/// reads every candidate key in one pipelined batch, shared by concurrent misses of the same host;
/// "not found" is cached too. Entries are dropped by <see cref="Invalidate"/> (change channel,
/// keyspace notifications, dead messages), refreshed after <see cref="RouterOptions.RouteCacheTtl"/>
/// as a last resort, and served stale for up to <see cref="RouterOptions.MaxStaleness"/> while Redis
/// is unreachable (Q20).
/// </summary>
internal sealed partial class RouteCache
{
    private readonly ConcurrentDictionary<string, CacheSlot> _slots = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CacheSlot>.AlternateLookup<ReadOnlySpan<char>> _slotsBySpan;
    private readonly ConcurrentDictionary<string, Task<CacheSlot>> _inflight = new(StringComparer.Ordinal);
    private readonly RouteReader _reader;
    private readonly RouterMetrics _metrics;
    private readonly DeadMarkBook _marks;
    private readonly ILogger<RouteCache> _logger;
    private readonly long _ttlMs;
    private readonly long _maxStaleMs;
    private readonly int _capacity;
    private readonly bool _honourRequestedHostDeadSet;
    private readonly TimeSpan _lookupTimeout;

    // Q15: each backend URL whose scheme or path is ignored is reported once, not per lookup.
    private readonly ConcurrentDictionary<string, byte> _reportedIgnoredUrls = new(StringComparer.Ordinal);
    private const int MaxReportedUrls = 10_000;

    // A read that started before a change must not be cached as fresh. Changes of a wildcard, of
    // the catch-all and full re-reads bump the global epoch; a change of one host bumps only its
    // stripe, so that heavy churn on some hosts does not demote every other host's reads (one
    // counter for all made every read overlap some change at thousands of admin writes a second).
    private const int EpochStripes = 1024;
    private readonly long[] _hostEpochs = new long[EpochStripes];
    private long _globalEpoch;

    // Bumped when every entry must be re-read (catch-all change, reconnect after missed messages).
    private long _generation;

    public RouteCache(RouteReader reader, IOptions<RouterOptions> options, IOptions<RouteStoreOptions> storeOptions, RouterMetrics metrics, DeadMarkBook marks, ILogger<RouteCache> logger)
    {
        _reader = reader;
        _metrics = metrics;
        _marks = marks;
        _logger = logger;
        var o = options.Value;
        _ttlMs = (long)o.RouteCacheTtl.TotalMilliseconds;
        _maxStaleMs = (long)o.MaxStaleness.TotalMilliseconds;
        _capacity = o.RouteCacheSize;
        _honourRequestedHostDeadSet = o.Compatibility == CompatibilityMode.Hipache;
        _lookupTimeout = storeOptions.Value.OperationTimeout;
        _slotsBySpan = _slots.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _slots.Count;

    /// <summary>The hot path: a fresh entry for the host, without allocating.</summary>
    public bool TryGetFresh(ReadOnlySpan<char> host, out LookupResult result)
    {
        if (_slotsBySpan.TryGetValue(host, out var slot) && IsFresh(slot))
        {
            _metrics.CacheHit();
            result = slot.Result;
            return true;
        }

        result = default;
        return false;
    }

    public Task<LookupResult> LookupAsync(ReadOnlySpan<char> host, CancellationToken cancellationToken) =>
        TryGetFresh(host, out var result) ? Task.FromResult(result) : LoadAsync(host.ToString(), cancellationToken);

    private async Task<LookupResult> LoadAsync(string host, CancellationToken cancellationToken)
    {
        _metrics.CacheMiss();
        var load = _inflight.TryGetValue(host, out var shared) ? shared : StartRead(host);
        try
        {
            var slot = await load.WaitAsync(cancellationToken).ConfigureAwait(false);
            return slot.Result;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            if (_slots.TryGetValue(host, out var stale) && Environment.TickCount64 - stale.FetchedAt <= _maxStaleMs)
            {
                _metrics.StaleServed();
                return stale.Result;
            }

            LogStoreUnavailable(_logger, host, ex.Message);
            return new LookupResult(LookupStatus.StoreUnavailable, null);
        }
    }

    /// <summary>
    /// Publishes the read in <see cref="_inflight"/> before starting it, and removes exactly that
    /// read when it ends. A read can end synchronously: with Redis disconnected, the batch throws
    /// at once. Started inside GetOrAdd, such a read removed itself before it was added, and its
    /// failed task stayed published: every later miss of the host got the old failure, long after
    /// Redis was back (found by bench/soak.sh).
    /// </summary>
    private Task<CacheSlot> StartRead(string host)
    {
        var read = new TaskCompletionSource<CacheSlot>(TaskCreationOptions.RunContinuationsAsynchronously);
        var published = _inflight.GetOrAdd(host, read.Task);
        if (ReferenceEquals(published, read.Task))
        {
            _ = CompleteReadAsync(host, read);
        }

        return published;
    }

    private async Task CompleteReadAsync(string host, TaskCompletionSource<CacheSlot> read)
    {
        var reading = ReadAndStoreAsync(host);
        await ((Task)reading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // Unpublished before it completes: a miss that comes after the answer starts a new read.
        _inflight.TryRemove(KeyValuePair.Create(host, read.Task));
        if (reading.IsCompletedSuccessfully)
        {
            read.SetResult(reading.Result);
        }
        else if (reading.IsCanceled)
        {
            read.SetCanceled();
        }
        else
        {
            read.SetException(reading.Exception!.InnerExceptions);
        }
    }

    private async Task<CacheSlot> ReadAndStoreAsync(string host)
    {
        try
        {
            var epoch = EpochOf(host);
            var generation = Interlocked.Read(ref _generation);
            var candidates = CandidateKeys.For(host);
            using var timeout = new CancellationTokenSource(_lookupTimeout);
            var match = await _reader.LookupAsync(candidates, timeout.Token).ConfigureAwait(false);
            var result = match is null
                ? new LookupResult(LookupStatus.NotFound, null)
                : new LookupResult(LookupStatus.Found, new RouteEntry(match, host, _honourRequestedHostDeadSet, _marks));
            if (result.Route is { } route)
            {
                ReportIgnoredParts(route);
            }

            // A change that arrived while we were reading may not be in what we read: keep the
            // answer for this request (and as a stale copy), but make the next one read again.
            var slot = new CacheSlot(result, Environment.TickCount64, generation, Demoted: EpochOf(host) != epoch);
            if (_slots.Count >= _capacity && !_slots.ContainsKey(host))
            {
                EvictSome();
            }

            _slots[host] = slot;

            // An invalidation between the check above and the store would otherwise leave this
            // (possibly stale) answer marked fresh: check again and demote it if one came.
            if (!slot.Demoted && EpochOf(host) != epoch)
            {
                _slots.TryUpdate(host, slot with { Demoted = true }, slot);
            }

            return slot;
        }
        catch (OperationCanceledException ex)
        {
            throw new TimeoutException("The route lookup did not finish within RouteStore:OperationTimeout.", ex);
        }
    }

    /// <summary>
    /// Drops what a change of <paramref name="frontendKey"/> can affect: the host itself, every
    /// cached host under a wildcard, everything for the catch-all.
    /// </summary>
    public void Invalidate(string frontendKey) => Drop(frontendKey, keepStale: false);

    /// <summary>
    /// Like <see cref="Invalidate"/>, but what was cached stays available as a stale copy: for
    /// this router's own dead marks. Those keep coming while Redis is down (a backend dies during
    /// the outage), and removing the entry then turned one dead backend into 503 for the whole
    /// host, its live backends included, until Redis was back (found by bench/soak.sh).
    /// </summary>
    public void Demote(string frontendKey) => Drop(frontendKey, keepStale: true);

    private void Drop(string frontendKey, bool keepStale)
    {
        _metrics.Invalidation();
        if (frontendKey == CandidateKeys.CatchAll)
        {
            InvalidateAll();
            return;
        }

        if (frontendKey.StartsWith("*.", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _globalEpoch);
            // Hosts under the wildcard, i.e. ending with ".suffix". A scan, but wildcard changes are rare
            // next to host changes and the scan neither locks nor allocates.
            var suffix = frontendKey.AsSpan(1);
            foreach (var pair in _slots)
            {
                if (pair.Key.AsSpan().EndsWith(suffix, StringComparison.Ordinal))
                {
                    Forget(pair.Key, keepStale);
                }
            }

            return;
        }

        // An exact key is a candidate of one requested host only: the host itself.
        Interlocked.Increment(ref _hostEpochs[Stripe(frontendKey)]);
        Forget(frontendKey, keepStale);
    }

    private void Forget(string host, bool keepStale)
    {
        if (!keepStale)
        {
            _slots.TryRemove(host, out _);
        }
        else if (_slots.TryGetValue(host, out var slot) && !slot.Demoted)
        {
            // Lost only to a concurrent store, whose read sees the epoch bumped above and demotes itself.
            _slots.TryUpdate(host, slot with { Demoted = true }, slot);
        }
    }

    /// <summary>Every entry must be read again, but stays available as a stale copy if Redis fails.</summary>
    public void InvalidateAll()
    {
        Interlocked.Increment(ref _globalEpoch);
        Interlocked.Increment(ref _generation);
    }

    /// <summary>What a read of <paramref name="host"/> compares before and after: the global epoch and the host's stripe.</summary>
    private (long Global, long Host) EpochOf(string host) =>
        (Interlocked.Read(ref _globalEpoch), Interlocked.Read(ref _hostEpochs[Stripe(host)]));

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

    private bool IsFresh(CacheSlot slot) =>
        !slot.Demoted && Environment.TickCount64 - slot.FetchedAt < _ttlMs && slot.Generation == Interlocked.Read(ref _generation);

    /// <summary>Frees an eighth of the capacity; dictionary order is hash order, so this is close to random.</summary>
    private void EvictSome()
    {
        var toRemove = Math.Max(1, _capacity / 8);
        foreach (var key in _slots.Keys)
        {
            if (toRemove-- <= 0)
            {
                break;
            }

            _slots.TryRemove(key, out _);
        }

        _metrics.Evicted();
    }

    /// <summary>A cached answer. Demoted: never fresh again, but still a stale copy (within MaxStaleness) while Redis fails.</summary>
    private sealed record CacheSlot(LookupResult Result, long FetchedAt, long Generation, bool Demoted = false);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Backend URL {Url} of {FrontendKey} has a scheme, path or user info that is ignored, as Hipache ignored it: traffic goes to {Destination} in plain HTTP")]
    private static partial void LogIgnoredParts(ILogger logger, string url, string frontendKey, string destination);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Route lookup for {Host} failed and no cached copy is recent enough: {Reason}")]
    private static partial void LogStoreUnavailable(ILogger logger, string host, string reason);
}
