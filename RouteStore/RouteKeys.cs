namespace Hipache.Aspire.RouteStore;

/// <summary>
/// The one place that knows the Redis schema. Hipache's keys (<c>frontend:</c>, <c>dead:</c>,
/// channel <c>dead</c>, <c>hchecker_ping</c>) are unchanged so that Hipache-era tooling keeps
/// working; everything this project adds lives under its own <see cref="ExtensionPrefix"/> and
/// never inside a <c>frontend:</c> list.
/// </summary>
public sealed class RouteKeys
{
    /// <summary>Hipache's channel for dead-marking events. Never prefixed (hipache-compat 2.1).</summary>
    public const string DeadChannel = "dead";

    /// <summary>Heartbeat key of an external active health checker. Never prefixed.</summary>
    public const string CheckerHeartbeatKey = "hchecker_ping";

    /// <summary>Prefix of every key and channel this project adds to Hipache's schema.</summary>
    public const string ExtensionPrefix = "hipache-aspire:";

    private const string FrontendPart = "frontend:";
    private const string DeadPart = "dead:";

    public RouteKeys(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        Prefix = prefix;
        FrontendKeyPrefix = prefix + FrontendPart;
        DeadKeyPrefix = prefix + DeadPart;
        ChangeChannel = prefix + ExtensionPrefix + "changes";
        AppKeyPrefix = prefix + ExtensionPrefix + "app:";
        AppIndexKey = prefix + ExtensionPrefix + "apps";
        StoreMarkerKey = prefix + ExtensionPrefix + "store";
        ProbeKeyPrefix = prefix + ExtensionPrefix + "probe:";
        BalancingKeyPrefix = prefix + ExtensionPrefix + "balance:";
        StickySecretKey = prefix + ExtensionPrefix + "sticky-secret";
        CheckLeasePrefix = prefix + ExtensionPrefix + "check:";
        BackendHealthPrefix = prefix + ExtensionPrefix + "health:";
        RouterIndexKey = prefix + ExtensionPrefix + "routers";
        RouterKeyPrefix = prefix + ExtensionPrefix + "router:";
        AckChannel = prefix + ExtensionPrefix + "acks";
        CertificateKeyPrefix = prefix + ExtensionPrefix + "cert:";
        CertificateIndexKey = prefix + ExtensionPrefix + "certs";
    }

    /// <summary>Text glued in front of <c>frontend:</c> and <c>dead:</c> (the driver URL's <c>#prefix</c>).</summary>
    public string Prefix { get; }

    public string FrontendKeyPrefix { get; }

    public string DeadKeyPrefix { get; }

    /// <summary>
    /// Channel on which every writer of this project publishes the frontend key (host part,
    /// e.g. <c>www.example.com</c> or <c>*.example.com</c>) after a committed change.
    /// </summary>
    public string ChangeChannel { get; }

    /// <summary>Prefix of the per-app set of hostnames the admin API maintains.</summary>
    public string AppKeyPrefix { get; }

    /// <summary>Sorted set (all scores 0, so it pages in name order) of every app name the admin API knows.</summary>
    public string AppIndexKey { get; }

    /// <summary>
    /// A random token, set once (SET NX) by the first router to find it missing. Its loss or change
    /// tells routers that the data under them was flushed or is another server's.
    /// </summary>
    public string StoreMarkerKey { get; }

    /// <summary>
    /// Prefix of each router's change-feed probe: a one-element list the router rewrites every
    /// Router:StoreCheckInterval and expects to hear about by keyspace notification, so that it
    /// knows (rather than assumes) that every change reaches it. Expires a minute after its router stops.
    /// </summary>
    public string ProbeKeyPrefix { get; }

    /// <summary>Prefix of each frontend's balancing hash (<see cref="Balancing"/>), absent for Hipache's random choice.</summary>
    public string BalancingKeyPrefix { get; }

    /// <summary>
    /// The key every router signs sticky-session cookies with (random, set once by the first
    /// router that needs it, SET NX), so that a cookie from one router is good at every other and
    /// after a restart.
    /// </summary>
    public string StickySecretKey { get; }

    /// <summary>
    /// Prefix of the per-backend probe leases of the active health checker: the key (plus the
    /// backend URL) holds the id of the router probing that backend, with a TTL of two intervals.
    /// </summary>
    public string CheckLeasePrefix { get; }

    /// <summary>Set of the ids of every router that announced itself (<see cref="RouterRegistry"/>); a member whose hash expired is gone.</summary>
    public string RouterIndexKey { get; }

    /// <summary>Prefix of each router's announcement: a hash with a TTL of a few heartbeats (<see cref="RouterRegistry"/>).</summary>
    public string RouterKeyPrefix { get; }

    /// <summary>
    /// Channel on which routers answer a fence (<see cref="ChangeFence"/>) seen on <see cref="ChangeChannel"/>:
    /// <c>&lt;token&gt; &lt;router id&gt;</c>, published once every change before the fence is applied.
    /// </summary>
    public string AckChannel { get; }

    /// <summary>
    /// Prefix of each stored TLS certificate: a hash (<c>chain</c> PEM, <c>key</c> the private key
    /// encrypted by <see cref="Certificates.PrivateKeyProtector"/>, <c>not-after</c> and
    /// <c>updated</c> Unix ms) per name: a host, a wildcard <c>*.example.com</c> or <c>_default</c>.
    /// </summary>
    public string CertificateKeyPrefix { get; }

    /// <summary>Sorted set of every stored certificate name, scored by its not-after (Unix seconds), for renewal listings.</summary>
    public string CertificateIndexKey { get; }

    public string Certificate(string name) => CertificateKeyPrefix + name;

    public string RouterAnnouncement(string routerId) => RouterKeyPrefix + routerId;

    public string Frontend(string frontendKey) => FrontendKeyPrefix + frontendKey;

    public string CheckLease(string backendUrl) => CheckLeasePrefix + backendUrl;

    /// <summary>
    /// Prefix of each probed backend's last result (a hash: <c>healthy</c> 1/0, <c>latency-ms</c>,
    /// <c>checked-at</c> Unix ms), written by the checker holding its lease, with a TTL of three intervals.
    /// </summary>
    public string BackendHealthPrefix { get; }

    public string BackendHealth(string backendUrl) => BackendHealthPrefix + backendUrl;

    public string Balancing(string frontendKey) => BalancingKeyPrefix + frontendKey;

    public string Probe(string instance) => ProbeKeyPrefix + instance;

    public string Dead(string frontendKey) => DeadKeyPrefix + frontendKey;

    public string App(string app) => AppKeyPrefix + app;

    /// <summary>The frontend key (e.g. <c>*.example.com</c>) of a full Redis key, or null when it is not a frontend key.</summary>
    public string? FrontendKeyOf(string redisKey) =>
        redisKey.StartsWith(FrontendKeyPrefix, StringComparison.Ordinal) ? redisKey[FrontendKeyPrefix.Length..] : null;

    /// <summary>The frontend key of a full balancing key, or null when it is not one.</summary>
    public string? BalancingKeyOf(string redisKey) =>
        redisKey.StartsWith(BalancingKeyPrefix, StringComparison.Ordinal) ? redisKey[BalancingKeyPrefix.Length..] : null;

    /// <summary>The frontend key of a full dead-set key, or null when it is not one.</summary>
    public string? DeadKeyOf(string redisKey) =>
        redisKey.StartsWith(DeadKeyPrefix, StringComparison.Ordinal) ? redisKey[DeadKeyPrefix.Length..] : null;

    /// <summary>A literal for Redis glob patterns: the key prefix is configuration and may hold <c>*?[]\</c>.</summary>
    public static string EscapeGlob(string literal)
    {
        var escaped = new System.Text.StringBuilder(literal.Length + 4);
        foreach (var c in literal)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                escaped.Append('\\');
            }

            escaped.Append(c);
        }

        return escaped.ToString();
    }
}
