namespace Hipache.Aspire.Router.Configuration;

/// <summary>Hipache's behaviour where it matters to existing deployments, or the safer default.</summary>
public enum CompatibilityMode
{
    /// <summary>The recommended behaviour of hipache-compat section 9 for every Q item.</summary>
    Safe,

    /// <summary>Every compat option set to what Hipache does (never its crashes or hangs).</summary>
    Hipache,
}

/// <summary>The router's settings, bound from the <c>Router</c> section and validated at start.</summary>
public sealed class RouterOptions
{
    public const string SectionName = "Router";

    public CompatibilityMode Compatibility { get; set; } = CompatibilityMode.Safe;

    /// <summary>
    /// Routed listener URLs (e.g. <c>http://*:8080</c>). Empty: ASP.NET Core's <c>urls</c>
    /// (ASPNETCORE_URLS, set by Aspire), then <c>HTTP_PORTS</c>, then <c>http://*:8080</c>.
    /// </summary>
    public IList<string> Urls { get; } = [];

    /// <summary>
    /// Routed listeners that speak HTTP/2 with prior knowledge (h2c) and nothing else, e.g.
    /// <c>http://*:8081</c>: for HTTP/2 clients without TLS (an HTTP/1.1 client cannot use them).
    /// Same routing, headers, error pages and limits as the other listeners; requests go through
    /// the YARP forwarding path.
    /// </summary>
    public IList<string> H2cUrls { get; } = [];

    /// <summary>TLS listeners (Hipache's <c>https.bind</c>): one certificate per address, PEM files.</summary>
    public IList<TlsListenerOptions> Tls { get; } = [];

    /// <summary>Address of the management listener (health, liveness). <c>*</c> means every interface.</summary>
    public string ManagementAddress { get; set; } = "localhost";

    /// <summary>Port of the management listener; it never shares a port with routed traffic.</summary>
    public int ManagementPort { get; set; } = 9091;

    /// <summary>Hipache's <c>server.deadBackendTTL</c>: EXPIRE of a dead set after a mark.</summary>
    public TimeSpan DeadBackendTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Hipache's <c>server.retryOnError</c>: extra attempts after connection errors.</summary>
    public int RetryOnError { get; set; } = 3;

    /// <summary>
    /// Hipache's <c>server.tcpTimeout</c>: client keep-alive idle timeout and backend response
    /// idle timeout (504 when it fires before a response, Q18). Zero disables both.
    /// </summary>
    public TimeSpan TcpTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Backend connect timeout: the smaller of this and <see cref="TcpTimeout"/> (Q18).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Hipache's <c>server.staticDir</c>: folder with <c>error_&lt;status&gt;.html</c> pages. Empty: the bundled pages.</summary>
    public string? StaticDir { get; set; }

    /// <summary>
    /// Lifetime of a cached route while the router cannot be sure it hears of every change (poll
    /// mode: keyspace notifications off or unsupported, subscription lost): a change made without
    /// the change channel is served at most this late. Hit entries are refreshed in the background
    /// from half their lifetime on, so this costs Redis reads, not request latency.
    /// </summary>
    public TimeSpan RouteCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Lifetime of a cached route read while the router knows every change reaches it (push mode,
    /// confirmed by its probe every <see cref="StoreCheckInterval"/>): only a safety net, changes
    /// arrive as messages. Never shorter than <see cref="RouteCacheTtl"/>.
    /// </summary>
    public TimeSpan RouteCachePushTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a cached route may still be served while Redis is unreachable (stale-if-error, Q20).</summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Most frontend keys with a route held in the route cache (about 165 B each on top of their strings, bench/RESULTS.md).</summary>
    public int RouteCacheSize { get; set; } = 1_000_000;

    /// <summary>
    /// Most "not found" keys held in the route cache, bounded apart from <see cref="RouteCacheSize"/>
    /// so that a flood of random Host headers recycles these and never evicts real routes.
    /// </summary>
    public int RouteCacheNegativeSize { get; set; } = 100_000;

    /// <summary>
    /// The port in the Location of HTTPS redirects (a frontend's <c>redirect</c> setting): 443 is
    /// left out of the URL; set it to the public HTTPS port when that is another.
    /// </summary>
    public int HttpsRedirectPort { get; set; } = 443;

    /// <summary>
    /// Most client SNI names whose certificate (from the certificate store) is held in memory; a
    /// name over the bound is read from Redis again on its next handshake. Names that resolve to no
    /// stored certificate or to the default one are held apart, in a quarter of this, so that a
    /// flood of random names never evicts real tenants' certificates.
    /// </summary>
    public int CertificateCacheSize { get; set; } = 10_000;

    /// <summary>
    /// How long a certificate read from the store is used before the next handshake refreshes it
    /// in the background: a safety net, since certificate changes reach routers as messages.
    /// </summary>
    public TimeSpan CertificateCacheTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Kestrel's zero-byte read before each receive on client connections: true holds no buffer
    /// for idle keep-alive connections (for very many idle clients); false (default) saves one
    /// syscall per request.
    /// </summary>
    public bool WaitForDataBeforeAllocatingBuffer { get; set; }

    /// <summary>
    /// How client connections (on IP listeners) and the native forwarder's backend connections do
    /// their I/O: the router's readiness-first epoll loops (<see cref="IoEngineKind.Epoll"/>, the
    /// default on Linux: one loop thread per core, a receive made only when epoll said the socket
    /// is readable, a request's client and backend events on one thread; bench/RESULTS.md), or
    /// Kestrel's socket transport and .NET sockets (<see cref="IoEngineKind.Sockets"/>, the
    /// default elsewhere and the fallback).
    /// </summary>
    public IoEngineKind IoEngine { get; set; } = OperatingSystem.IsLinux() ? IoEngineKind.Epoll : IoEngineKind.Sockets;

    /// <summary>
    /// On the epoll engine, receive the route keys' keyspace notifications (plain redis-cli
    /// writes) on a connection of the router's own, applied on its event loop with no thread hop
    /// (<see cref="Routing.DirectKeyspaceSubscriber"/>), instead of through the Redis library's
    /// subscription. For one plain Redis server; TLS, Sentinel, Cluster and replica reads keep the
    /// library's. False: always the library's.
    /// </summary>
    public bool DirectKeyspaceSubscription { get; set; } = true;

    /// <summary>Hipache's <c>server.maxSockets</c>: connections per backend (Q17).</summary>
    public int MaxSockets { get; set; } = 100;

    /// <summary>Hipache's <c>server.httpKeepAlive</c>: reuse backend connections (Q17).</summary>
    public bool HttpKeepAlive { get; set; } = true;

    /// <summary>
    /// Backend statuses that count as failures (Q1-Q3). Default: 502 and 504-599 (Hipache mode:
    /// 501, 502, 504-599). A 500 says the application failed, not the backend, so it is left out;
    /// a 503 that carries Retry-After (maintenance) never counts even when 503 is listed (Q2).
    /// </summary>
    public string? FailureStatuses { get; set; }

    /// <summary>Failures in a row that eject a backend (Q3). Default 3; Hipache mode: 1.</summary>
    public int? EjectAfter { get; set; }

    /// <summary>
    /// Safe mode: the failures in a row that eject a backend must all fall within this window,
    /// counted from the first; a run that is older starts again (a failure a minute is not an outage).
    /// </summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Safe mode: each ejection of a backend within this time of its previous one lasts twice as
    /// long (<see cref="DeadBackendTtl"/>, then 2x, 4x ...), up to this.
    /// </summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Safe mode: the share of a frontend's backends that may be marked dead at once (at least
    /// one, never all): a failure that hits every backend at once is not theirs.
    /// </summary>
    public int MaxEjectedPercent { get; set; } = 50;

    /// <summary>
    /// Tag <c>hipache.router.requests</c> with the matched frontend key. Off by default: 100k
    /// tenants would be 100k time series.
    /// </summary>
    public bool PerFrontendMetrics { get; set; }

    /// <summary>Hipache's <c>server.debug</c>: honour <c>X-Debug</c> (Q14). Always on in Hipache mode.</summary>
    public bool Debug { get; set; }

    /// <summary>Status sent for an unknown host (Q23). Hipache's 400 by default.</summary>
    public int UnknownHostStatus { get; set; } = 400;

    /// <summary>Peers whose X-Forwarded-* headers are kept (addresses or CIDRs, Q9). Empty: trust nobody.</summary>
    public IList<string> TrustedProxies { get; } = [];

    /// <summary>
    /// Hipache's <c>server.accessLog</c>: a file path, <c>stdout</c>, or empty for none. Files are
    /// reopened on SIGUSR1 and SIGHUP (log rotation).
    /// </summary>
    public string? AccessLog { get; set; }

    /// <summary>
    /// Largest request body accepted, in bytes (413 beyond). Null: no limit, as Hipache, which
    /// streams bodies (the docker registry pushes layers of gigabytes through it); Kestrel's own
    /// default of 30 MB would break such tenants.
    /// </summary>
    public long? MaxRequestBodySize { get; set; }

    /// <summary>How long in-flight requests may finish after SIGTERM (Q27).</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Slowloris: a client must send its whole request line and headers within this time (408 and
    /// closed otherwise). Kestrel's default.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Slow request bodies: below this many bytes per second, after <see cref="MinDataRateGracePeriod"/>,
    /// the connection is cut. Zero turns the check off (Hipache had none). Kestrel's default.
    /// </summary>
    public double MinRequestBodyDataRate { get; set; } = 240;

    /// <summary>
    /// Kestrel's minimum response data rate, after <see cref="MinDataRateGracePeriod"/>. Zero turns
    /// the check off. Kestrel's default. A client that stopped reading a proxied response was seen
    /// cut by <see cref="TcpTimeout"/> (the forwarder's idle timer), not by this check.
    /// </summary>
    public double MinResponseDataRate { get; set; } = 240;

    /// <summary>How long a transfer may run below the minimum data rates before it is cut.</summary>
    public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Requests (WebSockets included, for as long as they are open) one frontend may have in
    /// flight on this router; beyond it, 503 with Retry-After, so that one tenant's flood cannot take
    /// every connection and thread from the others. Zero: no limit (Hipache had none).
    /// </summary>
    public int MaxConcurrentRequestsPerFrontend { get; set; }

    /// <summary>
    /// Forward TRACE requests, as Hipache does (hipache-compat 5.2, C12). Off: 405 from the router,
    /// for installations whose tenants should never echo a request's headers (cookies, credentials
    /// added by proxies in front) back to a script (cross-site tracing).
    /// </summary>
    public bool AllowTrace { get; set; } = true;

    /// <summary>
    /// Forward the client's <c>Proxy</c> request header. Off by default (httpoxy, CVE-2016-5385:
    /// a CGI-style backend turns it into <c>HTTP_PROXY</c> and sends its own outgoing requests
    /// through whatever proxy the client named); no standard gives the header a meaning.
    /// </summary>
    public bool ForwardProxyHeader { get; set; }

    /// <summary>
    /// A pseudonym (a token, e.g. <c>router</c>): forwarded requests get <c>Via: 1.1 &lt;pseudonym&gt;</c>
    /// appended (RFC 9110 7.6.3). Empty (default): no Via, as nginx, HAProxy and Traefik send none.
    /// </summary>
    public string? Via { get; set; }

    /// <summary>
    /// How often the router checks that Redis is still the store it read its routes from: a
    /// FLUSHALL, or a new empty server behind the same address, emits no change message, so
    /// every cached route is read again when the store's marker key is gone or different.
    /// </summary>
    public TimeSpan StoreCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often the router rewrites its announcement in the router registry (GET /v1/routers of
    /// the admin API: id, addresses, version, cache size, store mode, last change applied).
    /// </summary>
    public TimeSpan RegistryHeartbeat { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long an announcement outlives its last heartbeat: a router killed, paused or cut off
    /// from Redis leaves the registry (and stops being waited for by ?wait= writes) this much later.
    /// At least two heartbeats.
    /// </summary>
    public TimeSpan RegistryTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Which upstream path forwards plain HTTP/1.x requests: the router's own HTTP/1.1 client
    /// (<see cref="ForwarderKind.Native"/>, pooled keep-alive connections, no per-request
    /// HttpRequestMessage) or YARP's <c>IHttpForwarder</c>. Upgrades (WebSockets, h2c) and HTTP/2
    /// clients always go through YARP.
    /// </summary>
    public ForwarderKind Forwarder { get; set; } = ForwarderKind.Native;

    /// <summary>The built-in active health checker (off unless enabled).</summary>
    public HealthCheckOptions HealthCheck { get; set; } = new();
}

/// <summary>
/// <c>Router:HealthCheck</c>: probes every backend of every frontend and keeps Hipache's dead
/// sets, as hipache-hchecker did. Routers that enable it share the probing through leases in Redis.
/// </summary>
public sealed class HealthCheckOptions
{
    public bool Enabled { get; set; }

    /// <summary>Http: GET <see cref="Path"/>, healthy on 2xx-3xx. Tcp: healthy when a connection opens.</summary>
    public HealthProbeKind Mode { get; set; } = HealthProbeKind.Http;

    public string Path { get; set; } = "/";

    /// <summary>Time between two probes of one backend.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A probe not answered within this fails (less than <see cref="Interval"/>).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive failed probes that mark a backend dead.</summary>
    public int Fall { get; set; } = 3;

    /// <summary>Consecutive good probes that clear a dead backend.</summary>
    public int Rise { get; set; } = 2;

    /// <summary>Each cycle starts up to this fraction of <see cref="Interval"/> early or late, so that many checkers do not probe in step.</summary>
    public double Jitter { get; set; } = 0.1;

    /// <summary>How often the list of backends is read again from every frontend (SCAN).</summary>
    public TimeSpan TableRefresh { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Probes of this router in flight at once.</summary>
    public int MaxConcurrentProbes { get; set; } = 256;
}

/// <summary>How <see cref="HealthCheckOptions"/> probes a backend.</summary>
public enum HealthProbeKind
{
    Http,
    Tcp,
}

/// <summary>One HTTPS listener and its certificate, loaded from PEM files.</summary>
public sealed class TlsListenerOptions
{
    /// <summary>An IP address, <c>*</c>/<c>0.0.0.0</c>/<c>::</c> for every interface, or <c>localhost</c>.</summary>
    public string Address { get; set; } = "*";

    public int Port { get; set; } = 443;

    /// <summary>PEM certificate file.</summary>
    public string Cert { get; set; } = string.Empty;

    /// <summary>PEM private key file.</summary>
    public string Key { get; set; } = string.Empty;

    /// <summary>Passphrase of an encrypted key. Never printed (<c>--dry</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? Passphrase { get; set; }

    /// <summary>Extra CA / intermediate certificates (PEM) sent as the chain.</summary>
    public IList<string> Ca { get; } = [];
}

/// <summary>The I/O of <see cref="RouterOptions.IoEngine"/>.</summary>
public enum IoEngineKind
{
    /// <summary>Kestrel's socket transport; .NET sockets for backends.</summary>
    Sockets,

    /// <summary>The router's epoll loops for both (Linux).</summary>
    Epoll,
}

/// <summary>The upstream path of <see cref="RouterOptions.Forwarder"/>.</summary>
public enum ForwarderKind
{
    /// <summary>YARP's <c>IHttpForwarder</c> over one pooled <c>SocketsHttpHandler</c>, for every request.</summary>
    Yarp,

    /// <summary>The router's HTTP/1.1 client for HTTP/1.x requests without upgrade; YARP for the rest.</summary>
    Native,
}
