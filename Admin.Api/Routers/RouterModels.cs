using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Admin.Routers;

/// <summary>
/// A live router: its announcement in the registry, and how long it took to answer this listing's
/// fence (<c>changeLagMs</c>: null when it did not answer within Admin:RouterProbeTimeout).
/// </summary>
public sealed record RouterView(
    string Id,
    string Version,
    IReadOnlyList<string> Addresses,
    string? Management,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    long CachedRoutes,
    string StoreMode,
    string? LastChange,
    DateTimeOffset? LastChangeAt,
    double? ChangeLagMs)
{
    public static RouterView Of(RouterAnnouncement a, double? changeLagMs)
    {
        ArgumentNullException.ThrowIfNull(a);
        return new(a.Id, a.Version, a.Addresses, a.Management, a.StartedAt, a.HeartbeatAt, a.CachedRoutes, a.StoreMode, a.LastChange, a.LastChangeAt, changeLagMs);
    }
}

/// <summary><c>GET /v1/routers</c>.</summary>
public sealed record RouterList(IReadOnlyList<RouterView> Routers, double ProbeTimeoutMs);

/// <summary>
/// The answer to a write with <c>?wait=</c> that not every live router confirmed within the bound
/// (202): the write is stored; <c>pending</c> routers may still serve the previous state.
/// </summary>
public sealed record WriteConfirmation(string Detail, IReadOnlyList<RouterConfirmation> Confirmed, IReadOnlyList<string> Pending, double WaitedMs);
