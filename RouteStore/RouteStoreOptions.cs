namespace Hipache.Aspire.RouteStore;

/// <summary>How to reach the routing table. Bound from the <c>RouteStore</c> section.</summary>
public sealed class RouteStoreOptions
{
    public const string SectionName = "RouteStore";

    /// <summary>
    /// Redis to use, as a StackExchange.Redis connection string or a Hipache driver URL. Defaults to
    /// <c>ConnectionStrings:redis</c>, the name Aspire's <c>WithReference</c> provides.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Hipache's <c>driver</c> list: with two or more URLs the first is the read connection and the
    /// last the write connection (hipache-compat 2.8). Takes precedence over <see cref="ConnectionString"/>.
    /// </summary>
    public IList<string> Driver { get; } = [];

    /// <summary>
    /// Key prefix glued in front of <c>frontend:</c> and <c>dead:</c>; overrides the driver URL's
    /// <c>#prefix</c> when set.
    /// </summary>
    public string? KeyPrefix { get; set; }

    /// <summary>
    /// Upper bound of one store operation. A lookup never waits longer than this on Redis (Q20);
    /// 1 s, like HAProxy's default server-side connect bound for control-plane reads.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Route reads go to a replica when one is connected (Redis replication or Sentinel), to take
    /// load off the primary; writes, subscriptions and the reads that follow a change stay on the
    /// primary (see <see cref="ReplicaLagBound"/>).
    /// </summary>
    public bool ReadFromReplicas { get; set; }

    /// <summary>
    /// With <see cref="ReadFromReplicas"/>: for this long after a key's change was heard of (or
    /// after every key was invalidated), reads of it go to the primary, so that a replica that has
    /// not applied the change yet cannot put the old value back in a router's cache. Longer than
    /// the replication lag the deployment sees.
    /// </summary>
    public TimeSpan ReplicaLagBound { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Bound of one connection attempt; reconnects continue in the background.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
