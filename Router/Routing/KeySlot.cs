namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// One frontend key as the route cache holds it: found (<see cref="Route"/>) or not found. Kept per
/// key, not per requested host, so that a change of a wildcard or of the catch-all replaces one
/// slot. The flags are written without locks: each is a one-way hint (demoted, referenced since
/// the last sweep, a refresh started) whose races cost at most one extra read.
/// </summary>
internal sealed class KeySlot(string key, RouteEntry? route, IReadOnlySet<int>? requestedHostDead, long readAt, long readSequence, long generation)
{
    private volatile bool _demoted;

    public string Key { get; } = key;

    /// <summary>Null: the key has no list (a "not found" entry).</summary>
    public RouteEntry? Route { get; } = route;

    /// <summary>Hipache mode, not-found slots: this host's own dead set, applied to the wildcard that matches it (Q12). Null when empty.</summary>
    public IReadOnlySet<int>? RequestedHostDead { get; } = requestedHostDead;

    /// <summary>Environment.TickCount64 when the read started: what the entry may have missed is bounded from here.</summary>
    public long ReadAt { get; } = readAt;

    /// <summary>Orders reads of one key: an older read never replaces a newer one.</summary>
    public long ReadSequence { get; } = readSequence;

    /// <summary>The cache's generation at read start; a later <see cref="RouteCache.InvalidateAll"/> makes the slot stale.</summary>
    public long Generation { get; } = generation;

    /// <summary>Never fresh again; still a stale copy (within MaxStaleness) while Redis fails.</summary>
    public bool Demoted
    {
        get => _demoted;
        set => _demoted = value;
    }

    /// <summary>CLOCK bit: hit since the eviction hand last passed.</summary>
    public int Referenced;

    /// <summary>1 once a refresh ahead of expiry was started.</summary>
    public int Refreshing;

    /// <summary>Hipache mode: the wildcard's entry with this host's dead set applied, for the entry it was made from.</summary>
    public MergedRoute? Merged;
}

/// <summary>A wildcard or catch-all entry (<see cref="From"/>) with a requested host's dead set applied.</summary>
internal sealed record MergedRoute(RouteEntry From, RouteEntry Result);
