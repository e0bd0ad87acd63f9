using System.Net;
using System.Net.Sockets;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Request headers towards the backend (hipache-compat 5.3 with Q8/Q9): the client's Host
/// unchanged, X-Forwarded-For / X-Real-IP / X-Forwarded-Proto / -Protocol / -Port computed by the
/// router for untrusted peers, kept (and appended to) for trusted proxies, or, in Hipache mode,
/// set only when absent. No X-Forwarded-Host, Forwarded or Via. YARP's base transform already
/// strips hop-by-hop headers and keeps header name case (Q17, issue #219).
/// </summary>
internal sealed class ForwardingTransformer : HttpTransformer
{
    private const string ForwardedFor = "X-Forwarded-For";
    private const string RealIp = "X-Real-IP";
    private const string ForwardedProto = "X-Forwarded-Proto";
    private const string ForwardedProtocol = "X-Forwarded-Protocol";
    private const string ForwardedPort = "X-Forwarded-Port";

    // Hipache mode: set-only-if-absent headers (Q9), ::ffff: addresses (Q10), fixed ports (Q8).
    private readonly bool _hipache;
    private readonly IPNetwork[] _trustedProxies;
    private readonly bool _debug;

    public ForwardingTransformer(IOptions<RouterOptions> options)
    {
        var o = options.Value;
        _hipache = o.Compatibility == CompatibilityMode.Hipache;
        _trustedProxies = [.. o.TrustedProxies.Select(ParseNetwork)];
        _debug = o.Debug || o.Compatibility == CompatibilityMode.Hipache;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        RawTarget.Apply(httpContext, proxyRequest, destinationPrefix);
        ConnectionTokens.RemoveNamedHeaders(httpContext.Request.Headers.Connection, proxyRequest.Headers);

        var headers = proxyRequest.Headers;
        var connection = httpContext.Connection;
        var client = ClientAddress.Format(connection.RemoteIpAddress, _hipache) ?? string.Empty;
        var tls = httpContext.Request.IsHttps;
        var proto = tls ? "https" : "http";
        var port = _hipache
            ? (tls ? "443" : "80")
            : connection.LocalPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

        if (_hipache)
        {
            SetIfAbsent(headers, ForwardedFor, client);
            SetIfAbsent(headers, RealIp, client);
            SetIfAbsent(headers, ForwardedProto, proto);
            SetIfAbsent(headers, ForwardedProtocol, proto);
            SetIfAbsent(headers, ForwardedPort, port);
            return;
        }

        if (IsTrusted(connection.RemoteIpAddress))
        {
            // A proxy in front of us already said who the client is: keep it, add the hop we saw.
            Append(headers, ForwardedFor, client);
            SetIfAbsent(headers, RealIp, client);
            SetIfAbsent(headers, ForwardedProto, proto);
            SetIfAbsent(headers, ForwardedProtocol, proto);
            SetIfAbsent(headers, ForwardedPort, port);
            return;
        }

        Replace(headers, ForwardedFor, client);
        Replace(headers, RealIp, client);
        Replace(headers, ForwardedProto, proto);
        Replace(headers, ForwardedProtocol, proto);
        Replace(headers, ForwardedPort, port);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (proxyResponse is not null && proxyResponse.Headers.Connection.Count > 0)
        {
            ConnectionTokens.RemoveNamedHeaders(proxyResponse.Headers.Connection, httpContext.Response.Headers);
        }

        if (_debug && proxyResponse is not null)
        {
            httpContext.Features.Get<RequestTrace>()?.WriteDebugHeaders(httpContext.Response.Headers, error: null);
        }

        return copy;
    }

    private bool IsTrusted(IPAddress? address)
    {
        if (address is null || _trustedProxies.Length == 0)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _trustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPNetwork ParseNetwork(string text)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        var address = IPAddress.Parse(text);
        return new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
    }

    private static void SetIfAbsent(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string value)
    {
        if (!headers.Contains(name))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    }

    private static void Replace(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string value)
    {
        headers.Remove(name);
        headers.TryAddWithoutValidation(name, value);
    }

    private static void Append(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string value)
    {
        if (headers.TryGetValues(name, out var existing))
        {
            var joined = string.Join(", ", existing);
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, joined.Length == 0 ? value : joined + ", " + value);
            return;
        }

        headers.TryAddWithoutValidation(name, value);
    }
}
