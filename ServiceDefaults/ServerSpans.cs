namespace Microsoft.Extensions.Hosting;

/// <summary>Where a service's server spans (one per HTTP request) come from.</summary>
public enum ServerSpans
{
    /// <summary>
    /// OpenTelemetry's ASP.NET Core instrumentation: rich spans (route, exceptions), but ASP.NET
    /// Core then creates an Activity for every request, whatever the sampler decides. For services
    /// whose request rate is low (the admin API).
    /// </summary>
    Instrumented,

    /// <summary>
    /// The service starts a span itself (<see cref="RequestSpans"/>), only for the requests it
    /// samples: an unsampled request costs no Activity. ASP.NET Core's own request activity stays
    /// off (no listener, and the router's hosting diagnostics log at None). For the router, where
    /// a span per request cost about a tenth of its CPU.
    /// </summary>
    Sampled,
}
