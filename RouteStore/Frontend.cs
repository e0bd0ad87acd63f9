using System.Globalization;
using StackExchange.Redis;

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

/// <summary>
/// An active health checker's last probe of one backend URL, stored as a hash
/// (<see cref="RouteKeys.BackendHealth"/>): <c>healthy</c> 1/0, <c>latency-ms</c>, <c>checked-at</c> Unix ms.
/// </summary>
public sealed record ProbeResult(bool Healthy, double LatencyMs, DateTimeOffset CheckedAt)
{
    private const string HealthyField = "healthy";
    private const string LatencyField = "latency-ms";
    private const string CheckedAtField = "checked-at";

    public HashEntry[] ToHash() =>
    [
        new(HealthyField, Healthy ? 1 : 0),
        new(LatencyField, Math.Round(LatencyMs, 3)),
        new(CheckedAtField, CheckedAt.ToUnixTimeMilliseconds()),
    ];

    /// <summary>The stored hash, or null when it is missing or incomplete.</summary>
    public static ProbeResult? FromHash(HashEntry[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        return fields.TryGetValue(HealthyField, out var healthy)
            && fields.TryGetValue(LatencyField, out var latency) && double.TryParse(latency, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms)
            && fields.TryGetValue(CheckedAtField, out var at) && long.TryParse(at, NumberStyles.None, CultureInfo.InvariantCulture, out var unixMs)
            ? new ProbeResult(healthy == "1", ms, DateTimeOffset.FromUnixTimeMilliseconds(unixMs))
            : null;
    }
}
