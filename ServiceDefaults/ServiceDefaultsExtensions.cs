using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every service of the solution shares, as Aspire services expect it: OpenTelemetry,
/// health checks, service discovery and resilient HttpClients.
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";
    public const string LiveTag = "live";

    /// <summary>The share of requests without a sampled caller that get a span, 0 to 1.</summary>
    public const string TraceSampleRatioKey = "Telemetry:TraceSampleRatio";

    /// <param name="meterNames">Meters of the service itself (the router's, for instance), exported with the standard ones.</param>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, params string[] meterNames)
        where TBuilder : IHostApplicationBuilder => builder.AddServiceDefaults(ServerSpans.Instrumented, meterNames);

    /// <param name="serverSpans">Where the per-request spans come from (<see cref="ServerSpans"/>).</param>
    /// <param name="meterNames">Meters of the service itself (the router's, for instance), exported with the standard ones.</param>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, ServerSpans serverSpans, params string[] meterNames)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureOpenTelemetry(serverSpans, meterNames);
        if (serverSpans == ServerSpans.Sampled)
        {
            builder.Services.AddSingleton<RequestSpans>();
        }

        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Ordinary HttpClients get the standard retry/circuit-breaker pipeline. The router's
            // forwarding client is not created through IHttpClientFactory, so it keeps its own
            // retry rules (hipache-compat 4.4, Q11).
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, ServerSpans serverSpans, params string[] meterNames)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation();
                foreach (var meter in meterNames)
                {
                    metrics.AddMeter(meter);
                }
            })
            .WithTracing(tracing =>
            {
                // Telemetry:Traces=false: no spans at all (metrics and logs stay). A span per
                // request costs a proxy measurably (bench/RESULTS.md); traceparent headers still
                // pass through unchanged, so the backends' traces stay connected to the caller's.
                if (!builder.Configuration.GetValue("Telemetry:Traces", defaultValue: true))
                {
                    return;
                }

                tracing.AddSource(builder.Environment.ApplicationName);
                // OTEL_TRACES_SAMPLER, when set, replaces the sampler chosen here.
                if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_TRACES_SAMPLER"]))
                {
                    tracing.SetSampler(new ParentBasedSampler(serverSpans == ServerSpans.Sampled
                        // RequestSpans decides before it starts a span; what it starts is recorded.
                        // Spans under it (the forwarding client's) follow it; other roots are dropped.
                        ? new DecidedServerSpanSampler()
                        // Requests whose caller sampled the trace (traceparent), and Telemetry:TraceSampleRatio
                        // of the others, by trace id so that every service of a trace decides alike.
                        : new TraceIdRatioBasedSampler(TraceSampleRatio(builder.Configuration))));
                }

                if (serverSpans == ServerSpans.Instrumented)
                {
                    tracing.AddAspNetCoreInstrumentation(options =>
                        // Probes would otherwise fill the trace view.
                        options.Filter = context =>
                            !context.Request.Path.StartsWithSegments(HealthPath, StringComparison.OrdinalIgnoreCase)
                            && !context.Request.Path.StartsWithSegments(AlivePath, StringComparison.OrdinalIgnoreCase));
                }

                tracing.AddHttpClientInstrumentation();
            });

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    internal static double TraceSampleRatio(IConfiguration configuration)
    {
        var value = configuration[TraceSampleRatioKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return 1.0;
        }

        if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ratio)
            || ratio is < 0 or > 1 || double.IsNaN(ratio))
        {
            throw new InvalidOperationException($"{TraceSampleRatioKey} must be a number from 0 to 1 (got '{value}').");
        }

        return ratio;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// <c>/health</c>: ready, every check (Redis included). <c>/alive</c>: the process answers.
    /// Mapped in every environment: orchestrators probe production too. The router maps these
    /// on its management listener only.
    /// </summary>
    public static IEndpointRouteBuilder MapDefaultEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = HealthResponseWriter.WriteAsync });
        endpoints.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) });
        return endpoints;
    }
}
