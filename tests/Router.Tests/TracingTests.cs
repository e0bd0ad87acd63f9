using System.Diagnostics;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Spans of routed requests (ServiceDefaults' RequestSpans, decided before anything is created): a
/// caller's sampled trace always gets the router's span, an unsampled one never, requests without a
/// caller at Telemetry:TraceSampleRatio; traceparent reaches the backend unchanged.
/// </summary>
public sealed class TracingTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private RedisFixture Fixture { get; } = fixture;

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    public async Task A_caller_that_sampled_its_trace_gets_the_routers_server_span_whatever_the_ratio(string ratio)
    {
        var spans = new SpanList();
        var seen = new List<string>();
        var backend = await StartBackendAsync("traced", context =>
        {
            lock (seen)
            {
                seen.Add(context.Request.Headers["traceparent"].ToString());
            }

            return context.Response.WriteAsync("traced");
        });
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Telemetry:TraceSampleRatio"] = ratio }, [], Exporting(spans));
        await router.RpushAsync(Db, "traced.test", "traced", backend.Url);
        // Served once first: right after start, on a loaded machine, a route's first read can
        // outlast RouteStore:OperationTimeout and answer 503 (seen once in CI), which is not what this tests.
        await Poll.UntilAsync(() => router.GetTextAsync("traced.test"), r => r.Status == 200, what: "the route to be served");

        var traceId = ActivityTraceId.CreateRandom();
        var sampled = $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        var path = $"/sampled-{Guid.NewGuid():N}";
        Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "traced.test", path, sampled), StringComparison.Ordinal);

        var span = await Poll.UntilAsync(() => Task.FromResult(Find(spans, path)), s => s is not null, what: "the router's span of the sampled request");
        Assert.Equal(traceId, span!.TraceId);
        Assert.Equal(ActivityKind.Server, span.Kind);
        Assert.Equal("GET", span.GetTagItem("http.request.method"));
        Assert.Equal(200, Convert.ToInt32(span.GetTagItem("http.response.status_code"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("traced.test", span.GetTagItem("server.address"));
        lock (seen)
        {
            // Passed through unchanged on either forwarding path.
            Assert.Contains(sampled, seen);
        }
    }

    [Fact]
    public async Task An_unsampled_callers_traceparent_reaches_the_backend_unchanged()
    {
        var seen = new List<string>();
        var backend = await StartBackendAsync("carried", context =>
        {
            lock (seen)
            {
                seen.Add(context.Request.Headers["traceparent"].ToString());
            }

            return context.Response.WriteAsync("carried");
        });
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Telemetry:TraceSampleRatio"] = "1" }, []);
        await router.RpushAsync(Db, "carried.test", "carried", backend.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("carried.test"), r => r.Status == 200, what: "the route to be served");
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var unsampled = $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-00";
        Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "carried.test", "/", unsampled), StringComparison.Ordinal);
        lock (seen)
        {
            Assert.Contains(unsampled, seen);
        }
    }

    [Fact]
    public async Task Unsampled_callers_and_requests_without_one_get_no_span_at_ratio_zero_and_every_one_at_ratio_one()
    {
        // One router at a time: routers in one process share an ActivitySource name, so each
        // exporter in the process sees what any of them records.
        var backend = await StartBackendAsync("untraced", context => context.Response.WriteAsync("ok"));
        var unsampled = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-00";
        var sampled = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        foreach (var (ratio, rootGetsSpan) in new[] { ("0", false), ("1", true) })
        {
            var spans = new SpanList();
            await using var router = await RunningRouter.StartAsync(Fixture.Redis, new Dictionary<string, string?> { ["Telemetry:TraceSampleRatio"] = ratio }, configure: Exporting(spans));
            await router.RpushAsync(Db, "untraced.test", "untraced", backend.Url);
            var root = $"/root-{Guid.NewGuid():N}";
            var notSampled = $"/unsampled-{Guid.NewGuid():N}";
            var marker = $"/sampled-{Guid.NewGuid():N}";
            Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "untraced.test", root, traceparent: null), StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "untraced.test", notSampled, unsampled), StringComparison.Ordinal);
            Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "untraced.test", marker, sampled), StringComparison.Ordinal);

            // The last request's span arriving shows the earlier ones would have by now.
            await Poll.UntilAsync(() => Task.FromResult(Find(spans, marker)), s => s is not null, what: $"the span of a sampled caller at ratio {ratio}");
            Assert.Equal(rootGetsSpan, Find(spans, root) is not null);
            Assert.Null(Find(spans, notSampled));
        }
    }

    [Fact]
    public async Task Requests_to_the_management_listener_get_no_span()
    {
        var spans = new SpanList();
        var backend = await StartBackendAsync("managed", context => context.Response.WriteAsync("ok"));
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Telemetry:TraceSampleRatio"] = "1" }, [], Exporting(spans));
        await router.RpushAsync(Db, "managed.test", "managed", backend.Url);
        Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "localhost", "/health", traceparent: null, router.ManagementPort), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "localhost", "/alive", traceparent: null, router.ManagementPort), StringComparison.Ordinal);
        var elsewhere = $"/elsewhere-{Guid.NewGuid():N}";
        await GetRawAsync(router, "localhost", elsewhere, traceparent: null, router.ManagementPort);

        // A routed request after them: once its span is here, theirs would be too.
        var marker = $"/routed-{Guid.NewGuid():N}";
        Assert.StartsWith("HTTP/1.1 200", await GetRawAsync(router, "managed.test", marker, traceparent: null), StringComparison.Ordinal);
        await Poll.UntilAsync(() => Task.FromResult(Find(spans, marker)), s => s is not null, what: "the span of the routed request");
        Assert.Null(Find(spans, "/health"));
        Assert.Null(Find(spans, "/alive"));
        Assert.Null(Find(spans, elsewhere));
    }

    /// <summary>
    /// A GET over a raw socket: the tests' HttpClient is instrumented in this process (it would
    /// replace the traceparent with a span of its own).
    /// </summary>
    private static async Task<string> GetRawAsync(RunningRouter router, string host, string path, string? traceparent, int? port = null)
    {
        var header = traceparent is null ? string.Empty : $"traceparent: {traceparent}\r\n";
        return await router.RawAsync($"GET {path} HTTP/1.1\r\nHost: {host}\r\n{header}Connection: close\r\n\r\n", port: port);
    }

    private static Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder> Exporting(SpanList spans) =>
        builder => builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans));

    private static Activity? Find(SpanList spans, string path) => spans.Find(s => s.GetTagItem("url.path") as string == path);

    /// <summary>The exporter adds from the request threads while the test reads.</summary>
    private sealed class SpanList : System.Collections.ObjectModel.Collection<Activity>
    {
        private readonly Lock _lock = new();

        public Activity? Find(Func<Activity, bool> match)
        {
            lock (_lock)
            {
                return this.FirstOrDefault(match);
            }
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (_lock)
            {
                base.InsertItem(index, item);
            }
        }
    }
}
