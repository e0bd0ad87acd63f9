namespace Hipache.Aspire.AppHost.Redis;

/// <summary>
/// A Redis-protocol server run as a local process (redis-server, or the embedded Garnet host),
/// offering the same <c>redis</c> connection string as Aspire's Redis container, so that
/// <c>WithReference</c>/<c>WaitFor</c> work unchanged whatever the source.
/// </summary>
internal sealed class LocalRedisResource(string name, string command, string workingDirectory)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    private EndpointReference? _endpoint;

    public EndpointReference Endpoint => _endpoint ??= new EndpointReference(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Endpoint.Property(EndpointProperty.HostAndPort)}");
}
