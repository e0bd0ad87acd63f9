using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Request headers towards the backend on the YARP path (hipache-compat 5.3 with Q8/Q9): the
/// client's Host unchanged and the forwarding headers <see cref="ForwardedHeaders"/> decides (the
/// native forwarder applies the same decisions). YARP's base transform already strips hop-by-hop
/// headers and keeps header name case (Q17, issue #219).
/// </summary>
internal sealed class ForwardingTransformer : HttpTransformer
{
    private readonly ForwardedHeaders _forwarded;
    private readonly bool _debug;
    private readonly bool _dropProxyHeader;
    private readonly string? _via;

    public ForwardingTransformer(ForwardedHeaders forwarded, IOptions<RouterOptions> options)
    {
        var o = options.Value;
        _forwarded = forwarded;
        _debug = o.Debug || o.Compatibility == CompatibilityMode.Hipache;
        _dropProxyHeader = !o.ForwardProxyHeader;
        _via = string.IsNullOrEmpty(o.Via) ? null : "1.1 " + o.Via;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        RawTarget.Apply(httpContext, proxyRequest, destinationPrefix);
        ConnectionTokens.RemoveNamedHeaders(httpContext.Request.Headers.Connection, proxyRequest.Headers);

        var headers = proxyRequest.Headers;
        if (_dropProxyHeader)
        {
            headers.Remove(ProxyHeader.Name);
        }

        if (IntermediaryHeaders.ForwardedMaxForwards(httpContext.Request) is { } maxForwards)
        {
            headers.Remove(HeaderNames.MaxForwards);
            headers.TryAddWithoutValidation(HeaderNames.MaxForwards, maxForwards);
        }

        if (_via is not null)
        {
            var via = headers.TryGetValues(HeaderNames.Via, out var existing) ? string.Join(", ", existing) + ", " + _via : _via;
            headers.Remove(HeaderNames.Via);
            headers.TryAddWithoutValidation(HeaderNames.Via, via);
        }

        var decision = _forwarded.Decide(httpContext);
        for (var i = 0; i < ForwardedHeaders.Names.Length; i++)
        {
            var name = ForwardedHeaders.Names[i];
            var value = decision.Value(i);
            switch (decision.HowToCombine(i))
            {
                case ForwardedHeaderMode.Replace:
                    headers.Remove(name);
                    headers.TryAddWithoutValidation(name, value);
                    break;
                case ForwardedHeaderMode.SetIfAbsent:
                    if (!headers.Contains(name))
                    {
                        headers.TryAddWithoutValidation(name, value);
                    }

                    break;
                case ForwardedHeaderMode.Append:
                    if (headers.TryGetValues(name, out var existing))
                    {
                        var joined = string.Join(", ", existing);
                        headers.Remove(name);
                        headers.TryAddWithoutValidation(name, joined.Length == 0 ? value : joined + ", " + value);
                    }
                    else
                    {
                        headers.TryAddWithoutValidation(name, value);
                    }

                    break;
            }
        }
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
}
