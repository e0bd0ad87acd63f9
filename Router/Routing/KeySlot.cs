using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// One frontend key as the route cache holds it: found (a <see cref="RouteEntry"/>, which is its
/// own slot) or not found (<see cref="NotFoundSlot"/>). Kept per key, not per requested host, so
/// that a change of a wildcard or of the catch-all replaces one slot. A found key is one object,
/// route and bookkeeping together: a million of them must fit in a few hundred MB
/// (bench/RESULTS.md, "Route cache v2 at a million frontends").
/// <para>
/// The flags are one-way hints (demoted, referenced since the last sweep, a refresh started)
/// whose races cost at most one extra read; they share one word, changed with interlocked
/// operations and only when a bit actually changes, so a hit only reads it.
/// </para>
/// </summary>
internal abstract class KeySlot(string key, long readAt, long readSequence, long generation)
{
    private const int DemotedFlag = 1;
    private const int ReferencedFlag = 2;
    private const int RefreshingFlag = 4;

    private int _flags;
    private long _readAt = readAt;
    private long _readSequence = readSequence;
    private long _generation = generation;

    public string Key { get; } = key;

    /// <summary>The route when the key has a list, null for a "not found" slot.</summary>
    public RouteEntry? Route => this as RouteEntry;

    /// <summary>Environment.TickCount64 when the (latest) read started: what the entry may have missed is bounded from here.</summary>
    public long ReadAt => Volatile.Read(ref _readAt);

    /// <summary>Orders reads of one key: an older read never replaces a newer one.</summary>
    public long ReadSequence => Volatile.Read(ref _readSequence);

    /// <summary>The cache's generation at read start; a later <see cref="RouteCache.InvalidateAll"/> makes the slot stale.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>Never fresh again; still a stale copy (within MaxStaleness) while Redis fails.</summary>
    public bool IsDemoted => (Volatile.Read(ref _flags) & DemotedFlag) != 0;

    /// <summary>CLOCK bit: hit since the eviction hand last passed.</summary>
    public bool IsReferenced => (Volatile.Read(ref _flags) & ReferencedFlag) != 0;

    /// <summary>A refresh ahead of expiry was started and has not failed.</summary>
    public bool IsRefreshing => (Volatile.Read(ref _flags) & RefreshingFlag) != 0;

    public void Demote() => Set(DemotedFlag);

    public void MarkReferenced() => Set(ReferencedFlag);

    public void ClearReferenced() => Clear(ReferencedFlag);

    /// <summary>Returns true for the one caller that starts the refresh.</summary>
    public bool TryStartRefresh() => (Interlocked.Or(ref _flags, RefreshingFlag) & RefreshingFlag) == 0;

    /// <summary>The refresh failed: the next hit may try again.</summary>
    public void RefreshFailed() => Clear(RefreshingFlag);

    /// <summary>
    /// A newer read found exactly what this slot holds: it becomes that read (read time, sequence,
    /// generation) in place instead of being replaced, so that refreshing a large table allocates
    /// no new entries and promotes nothing to the old generation. A reader racing this sees either
    /// read time with either generation, which can only make the slot look older (a miss), never
    /// fresher than one of the two reads. Returns false when a newer read already did it.
    /// </summary>
    public bool TryRenew(long readAt, long readSequence, long generation)
    {
        while (true)
        {
            var seen = Volatile.Read(ref _readSequence);
            if (seen >= readSequence)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _readSequence, readSequence, seen) == seen)
            {
                break;
            }
        }

        Volatile.Write(ref _generation, generation);
        Volatile.Write(ref _readAt, readAt);
        Clear(RefreshingFlag);
        return true;
    }

    private void Set(int flag)
    {
        if ((Volatile.Read(ref _flags) & flag) == 0)
        {
            Interlocked.Or(ref _flags, flag);
        }
    }

    private void Clear(int flag)
    {
        if ((Volatile.Read(ref _flags) & flag) != 0)
        {
            Interlocked.And(ref _flags, ~flag);
        }
    }
}

/// <summary>A key with no list.</summary>
internal sealed class NotFoundSlot(string key, IReadOnlySet<int>? requestedHostDead, long readAt, long readSequence, long generation)
    : KeySlot(key, readAt, readSequence, generation)
{
    /// <summary>Hipache mode: this host's own dead set, applied to the wildcard that matches it (Q12). Null when empty.</summary>
    public IReadOnlySet<int>? RequestedHostDead { get; } = requestedHostDead;

    /// <summary>Hipache mode: the wildcard's entry with this host's dead set applied, for the entry it was made from.</summary>
    public MergedRoute? Merged { get; set; }

    /// <summary>Whether <paramref name="read"/> says what this slot says (renewal, see <see cref="KeySlot.TryRenew"/>).</summary>
    public bool Matches(FrontendRead read, bool hipacheMode) =>
        !read.Exists && RequestedHostDead is null && (!hipacheMode || read.DeadIndexes.Count == 0);
}

/// <summary>A wildcard or catch-all entry (<see cref="From"/>) with a requested host's dead set applied.</summary>
internal sealed record MergedRoute(RouteEntry From, RouteEntry Result);
