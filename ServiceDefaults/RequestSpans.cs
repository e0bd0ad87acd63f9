using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Server spans for <see cref="ServerSpans.Sampled"/>: the service decides per request, before
/// anything is created, whether it gets one: every request whose caller sampled its trace
/// (<c>traceparent</c> with the sampled flag), none whose caller did not, and
/// <c>Telemetry:TraceSampleRatio</c> of those without a caller. OpenTelemetry's own samplers cannot
/// do this: a dropped root still gets an unrecorded Activity (to carry its trace id), with
/// Activity.Current and ExecutionContext changes, for every request.
/// </summary>
public sealed class RequestSpans : IDisposable
{
    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    private readonly ActivitySource _source;
    private readonly double _ratio;

    public RequestSpans(IHostEnvironment environment, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(configuration);
        // The service's own source, which ServiceDefaults has OpenTelemetry listen to.
        _source = new ActivitySource(environment.ApplicationName);
        _ratio = ServiceDefaultsExtensions.TraceSampleRatio(configuration);
    }

    /// <summary>A started server span for this request, or null (not sampled, or no tracing).</summary>
    public Activity? Start(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!_source.HasListeners())
        {
            return null;
        }

        var headers = context.Request.Headers;
        var traceparent = headers[TraceParent];
        ActivityContext parent = default;
        if (traceparent.Count == 1 && ActivityContext.TryParse(traceparent[0], headers[TraceState].ToString(), isRemote: true, out parent))
        {
            if ((parent.TraceFlags & ActivityTraceFlags.Recorded) == 0)
            {
                return null;
            }
        }
        else if (_ratio <= 0 || (_ratio < 1 && Random.Shared.NextDouble() >= _ratio))
        {
            return null;
        }

        var request = context.Request;
        var activity = _source.StartActivity(request.Method, ActivityKind.Server, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("http.request.method", request.Method);
            activity.SetTag("url.scheme", request.Scheme);
            activity.SetTag("server.address", request.Host.Host);
            activity.SetTag("url.path", request.Path.Value);
            activity.SetTag("network.protocol.version", request.Protocol.StartsWith("HTTP/", StringComparison.Ordinal) ? request.Protocol[5..] : request.Protocol);
            activity.SetTag("user_agent.original", request.Headers.UserAgent.ToString());
        }

        return activity;
    }

    public void Dispose() => _source.Dispose();

    /// <summary>Ends a span from <see cref="Start"/> with the response's status.</summary>
    public static void Stop(Activity activity, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(activity);
        ArgumentNullException.ThrowIfNull(context);
        var status = context.Response.StatusCode;
        if (activity.IsAllDataRequested)
        {
            activity.SetTag("http.response.status_code", status);
            if (status >= 500)
            {
                activity.SetTag("error.type", status.ToString(CultureInfo.InvariantCulture));
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }

        activity.Stop();
    }
}
