using System.Text.Json.Serialization;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Admin.Apis;

/// <summary>Body of <c>PUT /v1/frontends/{host}</c>.</summary>
public sealed record FrontendWrite(string? App, IReadOnlyList<string>? Backends);

/// <summary>Body of <c>POST /v1/frontends/{host}/backends</c>.</summary>
public sealed record BackendWrite(string? Url);

/// <summary>A backend in a frontend: its dead mark, and the active health checker's last probe when one runs.</summary>
public sealed record BackendView(
    string Url,
    bool Dead,
    DateTimeOffset? DeadUntil,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ProbeResult? Health = null);

/// <summary>A frontend; <c>GET</c> also shows its balancing settings.</summary>
public sealed record FrontendView(
    string Host,
    string App,
    IReadOnlyList<BackendView> Backends,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] BalancingView? Balancing = null);

/// <summary>One item of <c>GET /v1/frontends</c>: the list as stored, without dead marks (one read per item is enough).</summary>
public sealed record FrontendSummary(string Host, string App, IReadOnlyList<string> Backends);

/// <summary>A page of a listing; <c>nextCursor</c> is absent on the last page and opaque otherwise.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? NextCursor);

/// <summary>
/// Body of <c>PUT /v1/frontends/{host}/balancing</c>, and what <c>GET</c> answers: <c>policy</c>
/// is random, round-robin, least-requests, weighted or hash; <c>hashOn</c> (hash only) is
/// <c>header:&lt;name&gt;</c> or <c>cookie:&lt;name&gt;</c>; <c>weights</c> (weighted only) maps
/// backend URLs to 1-1000, 1 for a backend not named; <c>stickyCookie</c> (any policy) names the
/// signed cookie that keeps a client on the backend that first served it; <c>slowStartSeconds</c>
/// (0-3600, any policy but hash) ramps a recovered or new backend's share up over that time;
/// <c>healthCheckPath</c> is what the active health checker asks this frontend's backends for
/// (instead of <c>Router:HealthCheck:Path</c>).
/// </summary>
public sealed record BalancingWrite(string? Policy, string? HashOn, IReadOnlyDictionary<string, int>? Weights, string? StickyCookie = null, int? SlowStartSeconds = null, string? HealthCheckPath = null);

public sealed record BalancingView(
    string Policy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? HashOn,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, int>? Weights,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? StickyCookie,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? SlowStartSeconds,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? HealthCheckPath);

/// <summary>
/// Body of <c>PUT /v1/frontends/{host}/https</c>, and what <c>GET</c> answers: <c>redirect</c>
/// sends plain-HTTP requests to HTTPS (308); <c>hsts</c>, when present, adds
/// <c>Strict-Transport-Security</c> to responses over HTTPS.
/// </summary>
public sealed record HttpsSettings(bool Redirect, HstsSettings? Hsts);

/// <summary>RFC 6797's directives: <c>maxAgeSeconds</c> (0 tells browsers to forget), <c>includeSubDomains</c>, <c>preload</c>.</summary>
public sealed record HstsSettings(long? MaxAgeSeconds, bool IncludeSubDomains = false, bool Preload = false);
