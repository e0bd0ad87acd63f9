using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Hipache.Aspire.Router.AccessLog;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Forwarding.Native;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.Router.Threading;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// The routed listener's only handler: host -> route -> live backend -> forward, with Hipache's
/// answers for everything that cannot be forwarded (hipache-compat 3, 4, 7).
/// </summary>
internal sealed partial class ProxyHandler
{
    // The methods the router forwards (TRACE too, unless Router:AllowTrace is off).
    private const string MethodsWithoutTrace = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

    private readonly IHttpForwarder _forwarder;
    private readonly NativeForwarder? _native;
    private readonly HttpMessageInvoker _client;
    private readonly ForwardingTransformer _transformer;
    private readonly RouteCache _cache;
    private readonly DeadBackendReporter _deadReporter;
    private readonly BackendHealth _health;
    private readonly ErrorPageWriter _errors;
    private readonly RouterMetrics _metrics;
    private readonly AccessLogWriter _accessLog;
    private readonly FrontendConcurrencyLimiter _limiter;
    private readonly StickySessions _sticky;
    private readonly ILogger<ProxyHandler> _logger;
    private readonly RequestSpans _spans;
    private readonly ForwarderRequestConfig _requestConfig;
    private readonly ForwarderRequestConfig _http2RequestConfig;
    private readonly int _retryOnError;
    private readonly int _unknownHostStatus;
    private readonly bool _hipacheMode;
    private readonly bool _debug;
    private readonly bool _perFrontendMetrics;
    private readonly bool _allowTrace;
    private readonly ForwardedHeaders _forwardedHeaders;
    private readonly int _httpsRedirectPort;
    private readonly string _httpsRedirectPortText;

    public ProxyHandler(
        IHttpForwarder forwarder,
        NativeForwarder native,
        ForwarderClient client,
        ForwardingTransformer transformer,
        RouteCache cache,
        DeadBackendReporter deadReporter,
        BackendHealth health,
        ErrorPageWriter errors,
        RouterMetrics metrics,
        AccessLogWriter accessLog,
        FrontendConcurrencyLimiter limiter,
        StickySessions sticky,
        RequestSpans spans,
        ForwardedHeaders forwardedHeaders,
        IOptions<RouterOptions> options,
        ILogger<ProxyHandler> logger)
    {
        _spans = spans;
        _forwarder = forwarder;
        _native = options.Value.Forwarder == ForwarderKind.Native ? native : null;
        _client = client.Invoker;
        _transformer = transformer;
        _cache = cache;
        _deadReporter = deadReporter;
        _health = health;
        _errors = errors;
        _metrics = metrics;
        _accessLog = accessLog;
        _limiter = limiter;
        _sticky = sticky;
        _logger = logger;
        var o = options.Value;
        _retryOnError = o.RetryOnError;
        _unknownHostStatus = o.UnknownHostStatus;
        _hipacheMode = o.Compatibility == CompatibilityMode.Hipache;
        // Q14: Hipache honours X-Debug from anyone; here only when Router:Debug is on.
        _debug = o.Debug || o.Compatibility == CompatibilityMode.Hipache;
        _perFrontendMetrics = o.PerFrontendMetrics;
        _allowTrace = o.AllowTrace;
        _forwardedHeaders = forwardedHeaders;
        _httpsRedirectPort = o.HttpsRedirectPort;
        _httpsRedirectPortText = o.HttpsRedirectPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _requestConfig = new ForwarderRequestConfig
        {
            // Hipache speaks HTTP/1.1 to every backend (hipache-compat 5.2).
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            // Q18: a backend silent for tcpTimeout gets 504 instead of a cut client.
            ActivityTimeout = o.TcpTimeout > TimeSpan.Zero ? o.TcpTimeout : Timeout.InfiniteTimeSpan,
        };
        // An h2c:// backend (gRPC): HTTP/2 with prior knowledge, exactly. SocketsHttpHandler speaks
        // h2c to an http:// destination only for 2.0 with RequestVersionExact; OrLower would fall
        // back to HTTP/1.1, which breaks gRPC (trailers) instead of failing.
        _http2RequestConfig = _requestConfig with { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    public Task InvokeAsync(HttpContext context)
    {
        var span = _spans.Start(context);
        return span is null ? HandleRequestAsync(context) : TracedAsync(context, span);
    }

    private async Task TracedAsync(HttpContext context, Activity span)
    {
        try
        {
            await HandleRequestAsync(context).ConfigureAwait(false);
        }
        finally
        {
            RequestSpans.Stop(span, context);
        }
    }

    private Task HandleRequestAsync(HttpContext context)
    {
        var debugHeaders = _debug && context.Request.Headers.ContainsKey("X-Debug");
        if (!debugHeaders && !_accessLog.IsEnabled)
        {
            return HandleAsync(context, trace: null).AsTask();
        }

        var trace = RequestTrace.Rent(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, debugHeaders);
        context.Features.Set(trace);
        return _accessLog.IsEnabled ? LoggedAsync(context, trace) : HandleAsync(context, trace).AsTask();
    }

    private async Task LoggedAsync(HttpContext context, RequestTrace trace)
    {
        try
        {
            await HandleAsync(context, trace).ConfigureAwait(false);
        }
        finally
        {
            if (_accessLog.LogAllRequests || trace.Route is not null)
            {
                var request = context.Request;
                var now = Stopwatch.GetTimestamp();
                _accessLog.Write(new AccessLogEntry(
                    context.Connection.RemoteIpAddress,
                    trace.StartedAt,
                    request.Method,
                    Target(context),
                    request.Protocol,
                    trace.AnsweredStatus != 0 ? trace.AnsweredStatus : context.Response.StatusCode,
                    trace.ResponseBytes,
                    request.Headers.Referer.ToString(),
                    request.Headers.UserAgent.ToString(),
                    trace.Route?.Identifier ?? string.Empty,
                    Stopwatch.GetElapsedTime(trace.RequestStart, now),
                    trace.AttemptStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(trace.AttemptStart, now)));
            }

            // Nothing of this request reads it after this point: the line holds copies.
            context.Features.Set<RequestTrace>(null);
            trace.Return();
        }
    }

    private ValueTask HandleAsync(HttpContext context, RequestTrace? trace)
    {
        if (RequestStrictness.Violation(context, _hipacheMode) is { } violation)
        {
            // Whoever reads this connection next cannot know where the message ends: close it.
            return Answer(context, StatusCodes.Status400BadRequest, violation, new(HeaderNames.Connection, "close"));
        }

        if (!_hipacheMode && HttpProtocol.IsHttp10(context.Request.Protocol))
        {
            // RFC 9112 9.3: a proxy MUST NOT keep a connection with an HTTP/1.0 client alive (its
            // "keep-alive" may have been forwarded blindly by an HTTP/1.0 proxy in front). Set when
            // the response starts, so that error pages (which clear the headers) carry it too.
            context.Response.OnStarting(static state =>
            {
                ((HttpContext)state).Response.Headers.Connection = "close";
                return Task.CompletedTask;
            }, context);
        }

        var method = context.Request.Method;
        if (HttpMethods.IsConnect(method) && context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect != true)
        {
            // A tunnel to an address the client names is a forward proxy's job, and an open one
            // at that; extended CONNECT (WebSockets over HTTP/2) is forwarded like any upgrade.
            return Answer(context, StatusCodes.Status501NotImplemented, "CONNECT is not supported: this is a reverse proxy");
        }

        if (HttpMethods.IsTrace(method) && !_allowTrace)
        {
            return Answer(context, StatusCodes.Status405MethodNotAllowed, "TRACE is not allowed", new(HeaderNames.Allow, MethodsWithoutTrace));
        }

        if (IntermediaryHeaders.HasMaxForwards(method) && IntermediaryHeaders.MaxForwards(context.Request) == 0)
        {
            return AnswerAsFinalRecipient(context);
        }

        var hostHeader = context.Request.Headers.Host.ToString();
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        switch (HostNormalizer.Normalize(hostHeader, buffer, out var length))
        {
            case HostKind.Missing:
                return Answer(context, StatusCodes.Status400BadRequest, "no host header");
            case HostKind.Ping:
                return Answer(context, StatusCodes.Status200OK, "ok");
            case HostKind.Malformed:
                return Answer(context, StatusCodes.Status400BadRequest, "invalid host header");
        }

        var host = buffer[..length];
        if (trace is { DebugHeaders: true })
        {
            trace.RequestedHost = new string(host);
        }

        return _cache.TryGetFresh(host, out var lookup)
            ? RouteAsync(context, lookup, hostHeader, trace)
            : LookupThenRouteAsync(context, _cache.LookupAsync(host, context.RequestAborted), hostHeader, trace);
    }

    private async ValueTask LookupThenRouteAsync(HttpContext context, Task<LookupResult> lookup, string hostHeader, RequestTrace? trace) =>
        await RouteAsync(context, await lookup.ConfigureAwait(false), hostHeader, trace).ConfigureAwait(false);

    private ValueTask RouteAsync(HttpContext context, LookupResult lookup, string hostHeader, RequestTrace? trace) => lookup.Status switch
    {
        LookupStatus.Found => ForwardAsync(context, lookup.Route!, hostHeader, trace),
        LookupStatus.NotFound when _hipacheMode && HasOriginalSpelling(hostHeader) => LookupOriginalSpellingAsync(context, hostHeader, trace),
        LookupStatus.NotFound => Answer(context, _unknownHostStatus, "frontend not found", grpc: GrpcStatus.Unimplemented),
        _ => Answer(context, StatusCodes.Status503ServiceUnavailable, "routing table unavailable"),
    };

    /// <summary>
    /// Q7 compat (Hipache mode): Hipache did not lower-case a Host without a port, so keys stored
    /// with capitals matched such requests. When the lower-cased lookup finds nothing, try the
    /// spelling as sent.
    /// </summary>
    private static bool HasOriginalSpelling(string hostHeader) =>
        !hostHeader.Contains(':', StringComparison.Ordinal) && hostHeader.Any(char.IsAsciiLetterUpper);

    private async ValueTask LookupOriginalSpellingAsync(HttpContext context, string hostHeader, RequestTrace? trace)
    {
        var original = await _cache.LookupAsync(hostHeader.AsSpan().Trim(' '), context.RequestAborted).ConfigureAwait(false);
        if (original.Status == LookupStatus.Found)
        {
            await ForwardAsync(context, original.Route!, hostHeader, trace).ConfigureAwait(false);
        }
        else
        {
            await Answer(context, _unknownHostStatus, "frontend not found", grpc: GrpcStatus.Unimplemented).ConfigureAwait(false);
        }
    }

    private ValueTask ForwardAsync(HttpContext context, RouteEntry route, string hostHeader, RequestTrace? trace)
    {
        if (route.Https is { } https)
        {
            var secure = _forwardedHeaders.ClientUsedHttps(context);
            if (https.Redirect && !secure)
            {
                return RedirectToHttps(context, hostHeader);
            }

            if (https.Hsts is { } hsts && secure)
            {
                // RFC 6797 7.2: only over a secure transport. Set as the response starts, so that it
                // replaces a backend's own value and is on the router's error pages too.
                context.Response.OnStarting(static state =>
                {
                    var (response, value) = ((HttpResponse, string))state;
                    response.Headers.StrictTransportSecurity = value;
                    return Task.CompletedTask;
                }, (context.Response, hsts));
            }
        }

        if (!_limiter.IsEnabled)
        {
            return ForwardToBackendAsync(context, route, hostHeader, trace);
        }

        if (!_limiter.TryEnter(route.FrontendKey))
        {
            LogFrontendAtLimit(_logger, route.FrontendKey);
            return Answer(context, StatusCodes.Status503ServiceUnavailable, "Too many concurrent requests for this frontend", new(HeaderNames.RetryAfter, "1"));
        }

        return LimitedForwardAsync(context, route, hostHeader, trace);
    }

    /// <summary>308 (method and body kept, RFC 9110 15.4.9) to the same host, path and query over HTTPS.</summary>
    private ValueTask RedirectToHttps(HttpContext context, string hostHeader)
    {
        var request = context.Request;
        var host = HostWithoutPort(hostHeader);
        var location = _httpsRedirectPort == 443
            ? string.Concat("https://", host, request.PathBase.ToUriComponent(), request.Path.ToUriComponent(), request.QueryString.ToUriComponent())
            : string.Concat("https://", host, ":", _httpsRedirectPortText, request.PathBase.ToUriComponent(), request.Path.ToUriComponent(), request.QueryString.ToUriComponent());
        return Answer(context, StatusCodes.Status308PermanentRedirect, "Moved to HTTPS", new(HeaderNames.Location, location));
    }

    private static string HostWithoutPort(string hostHeader)
    {
        var host = hostHeader.Trim();
        var close = host.LastIndexOf(']');
        var colon = host.LastIndexOf(':');
        return colon > close ? host[..colon] : host;
    }

    private async ValueTask LimitedForwardAsync(HttpContext context, RouteEntry route, string hostHeader, RequestTrace? trace)
    {
        try
        {
            await ForwardToBackendAsync(context, route, hostHeader, trace).ConfigureAwait(false);
        }
        finally
        {
            _limiter.Exit(route.FrontendKey);
        }
    }

    // Pooled: this method's box was a quarter of what a proxied request allocated.
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private async ValueTask ForwardToBackendAsync(HttpContext context, RouteEntry route, string hostHeader, RequestTrace? trace)
    {
        route.CountRequest(Environment.TickCount64);
        var tried = route.Backends.Length <= 64 ? 0UL : ulong.MaxValue;
        var triedMany = tried == ulong.MaxValue ? new bool[route.Backends.Length] : null;
        // Q11: a body is never replayed; a request whose body nothing has read yet (every connect
        // failure) can still go to another backend with it intact.
        BodyReadTracker? body = null;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
        {
            body = new BodyReadTracker(context.Request.Body);
            context.Request.Body = body;
        }


        // The native path takes plain HTTP/1.x; upgrades and HTTP/2 clients stay on YARP.
        var native = _native is not null && NativeForwarder.CanForward(context);
        var sticky = StickyFor(context, route);
        for (var attempt = 0; ; attempt++)
        {
            var index = BackendChooser.Pick(route, context, _hipacheMode, tried, triedMany, sticky?.Preferred ?? -1);
            if (index < 0)
            {
                await Answer(context, StatusCodes.Status502BadGateway, attempt == 0 ? "Cannot find a valid backend" : GiveUpMessage()).ConfigureAwait(false);
                return;
            }

            var backend = route.Backends[index];
            if (!backend.IsValid)
            {
                await Answer(context, StatusCodes.Status502BadGateway, "backend is invalid").ConfigureAwait(false);
                return;
            }

            sticky?.Chosen = index;

            var started = Stopwatch.GetTimestamp();
            if (trace is not null)
            {
                trace.Route = route;
                trace.BackendIndex = index;
                trace.AttemptStart = started;
            }

            ForwardOutcome outcome;
            backend.Started();
            try
            {
                // An h2c:// backend needs HTTP/2, which only the YARP path speaks.
                outcome = native && !backend.IsHttp2
                    ? await _native!.SendAsync(context, backend, body).ConfigureAwait(false)
                    : await SendWithYarpAsync(context, backend, trace).ConfigureAwait(false);
            }
            finally
            {
                backend.Finished();
            }

            _metrics.UpstreamDuration(Stopwatch.GetElapsedTime(started).TotalSeconds);

            var error = outcome.Error;
            if (error == ForwarderError.None)
            {
                var status = context.Response.StatusCode;
                var failed = status >= 500 && _health.IsFailure(status, context.Response.Headers.ContainsKey("Retry-After"));
                if (_health.RecordStatus(backend.Href, failed, route))
                {
                    _deadReporter.Report(route, NormalizedHost(hostHeader), index, $"answered {status}");
                }

                if (_perFrontendMetrics)
                {
                    _metrics.Request(status, route.FrontendKey);
                }
                else
                {
                    _metrics.Request(status);
                }

                return;
            }

            // From here on the router answers (or retries elsewhere): no cookie for this backend.
            sticky?.Chosen = -1;
            var exception = outcome.Exception;
            if (context.Response.HasStarted)
            {
                // Q21: never splice another attempt into a started response.
                LogAbortedMidResponse(_logger, backend.HostAndPort, error.ToString());
                context.Abort();
                return;
            }

            var connectFailure = outcome.ConnectFailed;
            if (connectFailure)
            {
                _deadReporter.Report(route, NormalizedHost(hostHeader), index, exception?.Message ?? error.ToString());
            }

            if (error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled)
            {
                // The client went away; nothing can be delivered.
                return;
            }

            if (error == ForwarderError.RequestBodyClient)
            {
                // The client's body was unreadable (a bad chunk, a short body, too slow: 408): its
                // fault, not the backend's.
                var status = ClientFault(exception)?.StatusCode ?? StatusCodes.Status400BadRequest;
                await Answer(context, status, status == StatusCodes.Status408RequestTimeout ? "request body too slow" : "bad request body").ConfigureAwait(false);
                return;
            }

            if (!connectFailure || body is { Started: true } || attempt >= _retryOnError)
            {
                var timedOut = error == ForwarderError.RequestTimedOut;
                LogBackendFailed(_logger, backend.HostAndPort, route.Identifier, error.ToString(), exception?.Message ?? string.Empty);
                // A gRPC call whose backend went silent: DEADLINE_EXCEEDED, not the table's UNAVAILABLE,
                // because the backend may have acted on it ("may be returned even if the operation
                // has completed successfully", statuscodes.md) and clients retry UNAVAILABLE.
                await Answer(context, timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway,
                    connectFailure && attempt >= _retryOnError ? GiveUpMessage() : timedOut ? "Backend timed out" : "Backend error",
                    grpc: timedOut && !connectFailure ? GrpcStatus.DeadlineExceeded : null).ConfigureAwait(false);
                return;
            }

            // Nothing reached the backend: clear the forwarder's error and try another one.
            BackendChooser.MarkTried(index, ref tried, triedMany);
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.StatusCode = StatusCodes.Status200OK;
            _metrics.Retry();
        }
    }

    private async Task<ForwardOutcome> SendWithYarpAsync(HttpContext context, BackendAddress backend, RequestTrace? trace)
    {
        var config = backend.IsHttp2 ? _http2RequestConfig : _requestConfig;
        ForwarderError error;
        if (trace is null || !_accessLog.IsEnabled)
        {
            error = await _forwarder.SendAsync(context, backend.DestinationPrefix!, _client, config, _transformer).ConfigureAwait(false);
        }
        else
        {
            // The access log's byte count: YARP writes the body to the response stream.
            var original = context.Response.Body;
            var counting = new CountingStream(original);
            context.Response.Body = counting;
            try
            {
                error = await _forwarder.SendAsync(context, backend.DestinationPrefix!, _client, config, _transformer).ConfigureAwait(false);
            }
            finally
            {
                context.Response.Body = original;
                trace.ResponseBytes += counting.BytesWritten;
            }
        }

        if (error == ForwarderError.None)
        {
            return ForwardOutcome.Success;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        return new ForwardOutcome(error, exception, IsConnectFailure(error, exception));
    }

    /// <summary>Sticky-session state when the frontend asks for it and the shared key is known; registers the cookie's writing.</summary>
    private StickyResponse? StickyFor(HttpContext context, RouteEntry route)
    {
        if (route.Balancing is not { StickyCookie: not null } balancing || !_sticky.IsReady)
        {
            return null;
        }

        var sticky = new StickyResponse(_sticky, route, balancing, _sticky.Preferred(route, balancing, context), context);
        context.Response.OnStarting(StickyResponse.OnStarting, sticky);
        return sticky;
    }

    private string GiveUpMessage() => _retryOnError == 0 ? "Retry on error is disabled" : "Reached max retries limit";

    /// <summary>Refused, unreachable, unresolvable or not connected in time: no request byte reached the backend (Q11).</summary>
    private static bool IsConnectFailure(ForwarderError error, Exception? exception)
    {
        if (error is not (ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.UpgradeRequestDestination))
        {
            return false;
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }:
                    return true;
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.TimedOut }:
                    return true;
                case TimeoutException when e.Message.Contains("ConnectTimeout", StringComparison.Ordinal):
                    return true;
            }
        }

        return false;
    }

    private static BadHttpRequestException? ClientFault(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is BadHttpRequestException bad)
            {
                return bad;
            }
        }

        return null;
    }

    private static string NormalizedHost(string hostHeader)
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        return HostNormalizer.Normalize(hostHeader, buffer, out var length) == HostKind.Valid ? new string(buffer[..length]) : hostHeader;
    }

    /// <summary>RFC 9110 7.6.2: a TRACE or OPTIONS whose Max-Forwards is 0 is answered here, not forwarded.</summary>
    private ValueTask AnswerAsFinalRecipient(HttpContext context)
    {
        _metrics.Request(StatusCodes.Status200OK);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.Headers.CacheControl = "no-cache";
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            response.Headers.Allow = _allowTrace ? MethodsWithoutTrace + ", TRACE" : MethodsWithoutTrace;
            response.ContentLength = 0;
            return ValueTask.CompletedTask;
        }

        var echo = IntermediaryHeaders.TraceEcho(context, Target(context));
        response.ContentType = "message/http";
        response.ContentLength = echo.Length;
        if (context.Features.Get<RequestTrace>() is { } trace)
        {
            trace.ResponseBytes += echo.Length;
        }

        return response.Body.WriteAsync(echo, context.RequestAborted);
    }

    /// <summary>The request-target as the client sent it (the path when Kestrel has no raw one).</summary>
    private static string Target(HttpContext context) =>
        context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";

    private ValueTask Answer(HttpContext context, int status, string message, KeyValuePair<string, string>? header = null, GrpcStatus? grpc = null)
    {
        _metrics.Request(status);
        return new ValueTask(_errors.WriteAsync(context, status, message, header, grpc));
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "Backend {Backend} of {Identifier} failed ({Error}): {Reason}")]
    private static partial void LogBackendFailed(ILogger logger, string backend, string identifier, string error, string reason);

    [LoggerMessage(EventId = 62, Level = LogLevel.Debug, Message = "Frontend {FrontendKey} is at Router:MaxConcurrentRequestsPerFrontend; answered 503")]
    private static partial void LogFrontendAtLimit(ILogger logger, string frontendKey);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Backend {Backend} failed after the response started ({Error}); the client connection was aborted")]
    private static partial void LogAbortedMidResponse(ILogger logger, string backend, string error);
}
