using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// A matched frontend as the hot path needs it: parsed backends and which of them are dead; also
/// the route cache's slot for its key (<see cref="KeySlot"/>). Immutable apart from the slot's
/// flags; a change replaces the whole entry. Lean on purpose (a million of these must fit in a few
/// hundred MB): the frontend key is the slot's key, an identifier equal to the key is that same
/// string, other identifiers and the backend addresses come from <see cref="BackendAddressPool"/>,
/// and an entry with no dead backend shares one all-false array per length.
/// </summary>
internal sealed class RouteEntry : KeySlot
{
    private const int SharedLiveArrays = 16;
    private static readonly bool[][] AllLive = [.. Enumerable.Range(0, SharedLiveArrays).Select(n => new bool[n])];

    public RouteEntry(string key, FrontendRead read, BackendAddressPool pool, DeadMarkBook marks, long readAt, long readSequence, long generation)
        : base(key, readAt, readSequence, generation)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(marks);
        if (!read.Exists)
        {
            throw new ArgumentException("The frontend has no list.", nameof(read));
        }

        // Many deployments name the app after its host: one string for both then.
        Identifier = string.Equals(read.Identifier, key, StringComparison.Ordinal) ? key : pool.Intern(read.Identifier!);
        Backends = new BackendAddress[read.Backends.Length];
        for (var i = 0; i < Backends.Length; i++)
        {
            Backends[i] = pool.Get(read.Backends[i]);
        }

        (Dead, LiveCount) = DeadOf(key, read.DeadIndexes, Backends, marks, null);
        Balancing = RouteBalancing.For(read.Policy, Backends);
        Https = read.Policy.Https.IsNone ? null : read.Policy.Https;
        var now = Environment.TickCount64;
        for (var i = 0; i < Backends.Length; i++)
        {
            if (Dead[i])
            {
                Backends[i].SeenDead(now);
            }
            else
            {
                Backends[i].SeenLive(now);
            }
        }
    }

    private RouteEntry(RouteEntry matched, bool[] dead, int liveCount)
        : base(matched.Key, matched.ReadAt, matched.ReadSequence, matched.Generation)
    {
        _rateOwner = matched._rateOwner ?? matched;
        Identifier = matched.Identifier;
        Backends = matched.Backends;
        Dead = dead;
        LiveCount = liveCount;
        Balancing = matched.Balancing;
        Https = matched.Https;
    }

    // Requests counted per wall-clock second (the console's live rate, RequestRateQuery): the
    // current second's count and the last full second's. An entry lives until its frontend
    // changes (renewals keep it), so the rate survives refreshes; after a change it is whole again
    // within two seconds. A variant made for a requested host's own dead set counts on its source.
    private readonly RouteEntry? _rateOwner;
    private long _rateSecond;
    private long _rateCurrent;
    private long _ratePrevious;

    /// <summary>One more request routed by this entry, at <paramref name="nowMs"/> (Environment.TickCount64).</summary>
    public void CountRequest(long nowMs)
    {
        if (_rateOwner is { } owner)
        {
            owner.CountRequest(nowMs);
            return;
        }

        var second = nowMs / 1000;
        var seen = Volatile.Read(ref _rateSecond);
        if (seen != second && Interlocked.CompareExchange(ref _rateSecond, second, seen) == seen)
        {
            // One thread turns the second over; an increment racing it may land in the neighbour second.
            var finished = Interlocked.Exchange(ref _rateCurrent, 0);
            Volatile.Write(ref _ratePrevious, second == seen + 1 ? finished : 0);
        }

        Interlocked.Increment(ref _rateCurrent);
    }

    /// <summary>Requests in the last full second before <paramref name="nowMs"/>.</summary>
    public long RequestsLastSecond(long nowMs)
    {
        if (_rateOwner is { } owner)
        {
            return owner.RequestsLastSecond(nowMs);
        }

        var second = nowMs / 1000;
        var counted = Volatile.Read(ref _rateSecond);
        return counted == second ? Volatile.Read(ref _ratePrevious) : counted == second - 1 ? Volatile.Read(ref _rateCurrent) : 0;
    }

    /// <summary>The key that matched (<c>www.example.com</c>, <c>*.example.com</c> or <c>*</c>).</summary>
    public string FrontendKey => Key;

    /// <summary>Element 0 of the list: the app's identifier, for logs and debug headers.</summary>
    public string Identifier { get; }

    public BackendAddress[] Backends { get; }

    /// <summary>Indexed like <see cref="Backends"/>: true when the dead set names it. Never written after construction.</summary>
    public bool[] Dead { get; }

    public int LiveCount { get; }

    /// <summary>The frontend's balancing policy and its state; null for Hipache's random choice.</summary>
    public RouteBalancing? Balancing { get; }

    /// <summary>The frontend's HTTPS redirect and HSTS; null for neither (Hipache's behaviour).</summary>
    public HttpsPolicy? Https { get; }

    /// <summary>Whether <paramref name="read"/> says what this entry says, dead backends included (renewal, see <see cref="KeySlot.TryRenew"/>).</summary>
    public bool Matches(FrontendRead read, DeadMarkBook marks)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(marks);
        if (!read.Exists || !string.Equals(read.Identifier, Identifier, StringComparison.Ordinal) || read.Backends.Length != Backends.Length
            || !(Balancing is null ? read.Policy.IsDefault : Balancing.Settings.SameAs(read.Policy))
            || !Equals(Https ?? HttpsPolicy.None, read.Policy.Https))
        {
            return false;
        }

        for (var i = 0; i < Backends.Length; i++)
        {
            if (!string.Equals(read.Backends[i], Backends[i].Url, StringComparison.Ordinal))
            {
                return false;
            }
        }

        if (read.DeadIndexes.Count == 0)
        {
            return LiveCount == Backends.Length;
        }

        var (dead, _) = DeadOf(Key, read.DeadIndexes, Backends, marks, null);
        return dead.AsSpan().SequenceEqual(Dead);
    }

    /// <summary>
    /// Q12, Hipache mode: a wildcard or catch-all match also honours the requested host's own dead
    /// set (Hipache read <c>dead:&lt;requested host&gt;</c> whatever matched).
    /// </summary>
    public RouteEntry WithRequestedHostDead(string requestedHost, IReadOnlySet<int> indexes, DeadMarkBook marks)
    {
        ArgumentNullException.ThrowIfNull(marks);
        var (dead, live) = DeadOf(requestedHost, indexes, Backends, marks, Dead);
        return new RouteEntry(this, dead, live);
    }

    private static (bool[] Dead, int Live) DeadOf(string deadKey, IReadOnlySet<int> indexes, BackendAddress[] backends, DeadMarkBook marks, bool[]? already)
    {
        if (indexes.Count == 0 && already is null)
        {
            return (backends.Length < SharedLiveArrays ? AllLive[backends.Length] : new bool[backends.Length], backends.Length);
        }

        var dead = already is null ? new bool[backends.Length] : (bool[])already.Clone();
        marks.Apply(deadKey, indexes, backends, dead);
        return (dead, dead.Count(d => !d));
    }
}
