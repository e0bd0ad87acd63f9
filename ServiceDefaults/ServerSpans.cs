namespace Microsoft.Extensions.Hosting;

/// <summary>Where a service's server spans (one per HTTP request) come from.</summary>
public enum ServerSpans
{
    /// <summary>
    /// OpenTelemetry's ASP.NET Core instrumentation: rich spans (route, exceptions), but it makes
    /// ASP.NET Core create an Activity for every request, whatever the sampler then decides.
    /// For services whose request rate is low (the admin API).
    /// </summary>
    Instrumented,

    /// <summary>
    /// ASP.NET Core's own ActivitySource, with the sampler deciding before anything is created: a
    /// request that is not sampled costs no Activity at all. The service calls
    /// <see cref="RequestSpans.Attach"/> at the start of each request so that a sampled span gets
    /// its HTTP tags when it ends. For the router, where a span per request cost ~9 % of its CPU.
    /// </summary>
    Sampled,
}
