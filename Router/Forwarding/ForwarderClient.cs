using System.Net;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// The one shared, pooled connection handler for every backend (DESIGN "hot path" 4): no proxy,
/// redirects, decompression or cookies; connect timeout and per-backend connection cap from the
/// options (Q17, Q18). Not created through IHttpClientFactory, so the resilience handler of
/// ServiceDefaults never wraps it: the router has its own retry rules.
/// </summary>
internal sealed class ForwarderClient : IDisposable
{
    public ForwarderClient(IOptions<RouterOptions> options)
    {
        var o = options.Value;
        var connectTimeout = o.TcpTimeout > TimeSpan.Zero && o.TcpTimeout < o.ConnectTimeout ? o.TcpTimeout : o.ConnectTimeout;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // h2c:// backends share this handler: SocketsHttpHandler speaks HTTP/2 with prior
            // knowledge to an http:// URI asked for exactly 2.0 (ProxyHandler), and opens another
            // connection when one is at the backend's stream limit (100 on Kestrel), up to MaxSockets.
            EnableMultipleHttp2Connections = true,
            // Pass-through, as the native path: the caller's traceparent/tracestate reach the backend
            // unchanged. Injecting would replace them with the client activity's, a new trace
            // whenever the router did not sample the request (RequestSpans).
            ActivityHeadersPropagator = null,
            ConnectTimeout = connectTimeout,
            MaxConnectionsPerServer = o.MaxSockets,
            // httpKeepAlive false: a fresh connection per request, as Hipache's docs promise.
            PooledConnectionLifetime = o.HttpKeepAlive ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
