using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.Router.Threading;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// One request's route, chosen backend and timings, for the <c>x-debug-*</c> headers
/// (hipache-compat 5.6) and the access log line (5.7). Taken only when one of them is on for
/// this request, so ordinary requests with both off pay nothing; with the access log on, every
/// request takes one, so they are pooled (<see cref="Rent"/>, <see cref="Return"/>).
/// </summary>
internal sealed class RequestTrace
{
    private static readonly SharedPool<RequestTrace> Pool = new(1024);

    public static readonly string Version =
        typeof(RequestTrace).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>The normalised Host, once known (set only for debug headers).</summary>
    public string RequestedHost { get; set; } = string.Empty;

    public long RequestStart { get; private set; }

    /// <summary>Wall-clock start, for the access log's date.</summary>
    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>The request carried X-Debug and debugging is enabled.</summary>
    public bool DebugHeaders { get; private set; }

    public long AttemptStart { get; set; }

    public RouteEntry? Route { get; set; }

    public int BackendIndex { get; set; } = -1;

    /// <summary>Body bytes of this response sent to the client (Q22), counted by whoever wrote them.</summary>
    public long ResponseBytes { get; set; }

    /// <summary>
    /// The router's own answer's status when the wire carries another (a gRPC call's error goes
    /// out as HTTP 200 with grpc-status), for the access log; 0 otherwise.
    /// </summary>
    public int AnsweredStatus { get; set; }

    public static RequestTrace Rent(long requestStart, DateTimeOffset startedAt, bool debugHeaders)
    {
        var trace = Pool.TryRent() ?? new RequestTrace();
        trace.RequestStart = requestStart;
        trace.StartedAt = startedAt;
        trace.DebugHeaders = debugHeaders;
        return trace;
    }

    /// <summary>For the next request: call once nothing of this one can read it any more.</summary>
    public void Return()
    {
        RequestedHost = string.Empty;
        AttemptStart = 0;
        Route = null;
        BackendIndex = -1;
        ResponseBytes = 0;
        AnsweredStatus = 0;
        Pool.Return(this);
    }

    /// <summary>Writes the headers; <paramref name="error"/> is the router's message for its own answers.</summary>
    public void WriteDebugHeaders(IHeaderDictionary headers, string? error)
    {
        if (!DebugHeaders)
        {
            return;
        }

        headers["x-debug-version-hipache"] = Version;
        if (Route is not null && BackendIndex >= 0)
        {
            var now = Stopwatch.GetTimestamp();
            headers["x-debug-backend-url"] = Route.Backends[BackendIndex].Href;
            headers["x-debug-backend-id"] = BackendIndex.ToString(CultureInfo.InvariantCulture);
            headers["x-debug-vhost"] = Route.Identifier;
            headers["x-debug-frontend-key"] = RequestedHost;
            headers["x-debug-time-total"] = Milliseconds(RequestStart, now);
            headers["x-debug-time-backend"] = Milliseconds(AttemptStart, now);
        }

        if (error is not null)
        {
            headers["x-debug-error"] = error;
        }
    }

    private static string Milliseconds(long from, long to) =>
        ((long)Stopwatch.GetElapsedTime(from, to).TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}
