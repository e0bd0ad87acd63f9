namespace Hipache.Aspire.RouteStore;

/// <summary>One <c>frontend:&lt;key&gt;</c> list: element 0 the identifier, then the backend URLs.</summary>
public sealed record Frontend(string Key, string Identifier, IReadOnlyList<string> Backends);

/// <summary>
/// One frontend key as read: its list (null identifier when the key is missing or empty), its
/// own dead set and its balancing settings. The route cache keeps one of these per key, so that
/// a change of one key (a wildcard, the catch-all) touches one entry instead of every host under it.
/// </summary>
public sealed record FrontendRead(string Key, string? Identifier, string[] Backends, IReadOnlySet<int> DeadIndexes, Balancing? Balancing = null)
{
    public bool Exists => Identifier is not null;

    /// <summary>Hipache's random choice unless the frontend has settings of its own.</summary>
    public Balancing Policy => Balancing ?? RouteStore.Balancing.Default;
}

/// <summary>An active health checker's last probe of one backend URL (<see cref="RouteKeys.BackendHealth"/>).</summary>
public sealed record ProbeResult(bool Healthy, double LatencyMs, DateTimeOffset CheckedAt);
