using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// HTTP tags for the spans of <see cref="ServerSpans.Sampled"/>: ASP.NET Core's own Activity
/// carries none, so a sampled request's context is attached to it when the request starts and
/// read back when it ends (<see cref="RequestSpanProcessor"/>). Unsampled requests pay one
/// <see cref="Activity.Current"/> read.
/// </summary>
public static class RequestSpans
{
    internal const string HostingActivityName = "Microsoft.AspNetCore.Hosting.HttpRequestIn";
    internal const string ContextProperty = "Hipache.Aspire.HttpContext";

    /// <summary>Call at the start of a request. Health probes lose their span here.</summary>
    public static void Attach(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Activity.Current is not { IsAllDataRequested: true } activity || activity.OperationName != HostingActivityName)
        {
            return;
        }

        var path = context.Request.Path;
        if (path.StartsWithSegments(ServiceDefaultsExtensions.HealthPath, StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments(ServiceDefaultsExtensions.AlivePath, StringComparison.OrdinalIgnoreCase))
        {
            // Probes would otherwise fill the trace view: not recorded, so no processor or exporter sees it.
            activity.IsAllDataRequested = false;
            activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
            return;
        }

        activity.SetCustomProperty(ContextProperty, context);
    }

    /// <summary><see cref="Attach"/> for every request of this pipeline.</summary>
    public static IApplicationBuilder UseRequestSpans(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            Attach(context);
            return next(context);
        });
}

/// <summary>
/// Sets the semantic-convention HTTP tags on a sampled span as it ends, before the exporters
/// run (it is registered ahead of them), while its HttpContext is still the request's.
/// </summary>
internal sealed class RequestSpanProcessor : BaseProcessor<Activity>
{
    public override void OnEnd(Activity data)
    {
        if (data.GetCustomProperty(RequestSpans.ContextProperty) is not HttpContext context)
        {
            return;
        }

        data.SetCustomProperty(RequestSpans.ContextProperty, null);
        var request = context.Request;
        var status = context.Response.StatusCode;
        var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
        data.DisplayName = route is null ? request.Method : $"{request.Method} {route}";
        data.SetTag("http.request.method", request.Method);
        data.SetTag("url.scheme", request.Scheme);
        data.SetTag("server.address", request.Host.Host);
        data.SetTag("network.protocol.version", request.Protocol.StartsWith("HTTP/", StringComparison.Ordinal) ? request.Protocol[5..] : request.Protocol);
        data.SetTag("user_agent.original", request.Headers.UserAgent.ToString());
        data.SetTag("http.response.status_code", status);
        if (route is not null)
        {
            data.SetTag("http.route", route);
        }

        if (status >= 500)
        {
            data.SetStatus(ActivityStatusCode.Error);
            data.SetTag("error.type", status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // Last: a reader that finds the path finds every other tag.
        data.SetTag("url.path", request.Path.Value);
    }
}
