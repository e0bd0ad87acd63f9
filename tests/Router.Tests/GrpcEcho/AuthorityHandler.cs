namespace Hipache.Aspire.Router.Tests.GrpcEcho;

/// <summary>
/// Sets each request's authority (Host, <c>:authority</c> in HTTP/2): a gRPC channel addresses the
/// router by IP and port, and the router routes on the authority, so this names the frontend.
/// </summary>
internal sealed class AuthorityHandler(string host) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Host = host;
        return base.SendAsync(request, cancellationToken);
    }
}
