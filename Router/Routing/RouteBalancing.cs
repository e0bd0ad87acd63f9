using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// A route's balancing settings (<see cref="Balancing"/>) resolved against its backends: weights
/// and hash seeds by index, and the round-robin position. Only routes with settings of their own
/// have one; Hipache's random choice needs nothing.
/// </summary>
internal sealed class RouteBalancing
{
    private int _next = -1;

    private RouteBalancing(Balancing settings, int[] weights, ulong[] urlHashes, HashSource source)
    {
        Settings = settings;
        Weights = weights;
        UrlHashes = urlHashes;
        Source = source;
    }

    public Balancing Settings { get; }

    public BalancingPolicy Policy => Settings.Policy;

    /// <summary>Indexed like the route's backends (weighted policy; empty otherwise).</summary>
    public int[] Weights { get; }

    /// <summary>
    /// Each backend's URL hashed (<see cref="RendezvousHash.Of"/>): the rendezvous seed of the hash
    /// policy and the backend's name in sticky cookies, stable when the list is reordered. Empty
    /// when neither is on.
    /// </summary>
    public ulong[] UrlHashes { get; }

    public HashSource Source { get; }

    /// <summary>Ramp of a recovered or new backend's share, in milliseconds; 0 for none.</summary>
    public long SlowStartMs => (long)Settings.SlowStart.TotalMilliseconds;

    /// <summary>The sticky-session cookie's name, or null without sticky sessions.</summary>
    public string? StickyCookie => Settings.StickyCookie;

    /// <summary>Null for the default (random), which needs no state.</summary>
    public static RouteBalancing? For(Balancing settings, BackendAddress[] backends)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(backends);
        if (settings.IsDefault)
        {
            return null;
        }

        var weights = settings.Policy == BalancingPolicy.Weighted
            ? [.. backends.Select(b => settings.Weights.GetValueOrDefault(b.Url, 1))]
            : Array.Empty<int>();
        var source = default(HashSource);
        var hashed = settings.Policy == BalancingPolicy.Hash && HashSource.TryParse(settings.HashOn, out source);
        var urlHashes = hashed || settings.StickyCookie is not null
            ? [.. backends.Select(b => RendezvousHash.Of(b.Url))]
            : Array.Empty<ulong>();
        return new RouteBalancing(settings, weights, urlHashes, source);
    }

    /// <summary>The round-robin turn of the next request.</summary>
    public uint NextTurn() => (uint)Interlocked.Increment(ref _next);
}
