using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// A matched frontend as the hot path needs it: parsed backends and which of them are dead.
/// Immutable; a change replaces the whole entry. Lean on purpose (a million of these must fit in
/// a few hundred MB): backend addresses and identifiers come from <see cref="BackendAddressPool"/>,
/// and an entry with no dead backend shares one all-false array per length.
/// </summary>
internal sealed class RouteEntry
{
    private const int SharedLiveArrays = 16;
    private static readonly bool[][] AllLive = [.. Enumerable.Range(0, SharedLiveArrays).Select(n => new bool[n])];

    public RouteEntry(FrontendRead read, BackendAddressPool pool, DeadMarkBook marks)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(marks);
        if (!read.Exists)
        {
            throw new ArgumentException("The frontend has no list.", nameof(read));
        }

        FrontendKey = read.Key;
        Identifier = pool.Intern(read.Identifier!);
        Backends = new BackendAddress[read.Backends.Length];
        for (var i = 0; i < Backends.Length; i++)
        {
            Backends[i] = pool.Get(read.Backends[i]);
        }

        (Dead, LiveCount) = DeadOf(FrontendKey, read.DeadIndexes, Backends, marks, null);
    }

    private RouteEntry(RouteEntry matched, bool[] dead, int liveCount)
    {
        FrontendKey = matched.FrontendKey;
        Identifier = matched.Identifier;
        Backends = matched.Backends;
        Dead = dead;
        LiveCount = liveCount;
    }

    /// <summary>The key that matched (<c>www.example.com</c>, <c>*.example.com</c> or <c>*</c>).</summary>
    public string FrontendKey { get; }

    /// <summary>Element 0 of the list: the app's identifier, for logs and debug headers.</summary>
    public string Identifier { get; }

    public BackendAddress[] Backends { get; }

    /// <summary>Indexed like <see cref="Backends"/>: true when the dead set names it. Never written after construction.</summary>
    public bool[] Dead { get; }

    public int LiveCount { get; }

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
