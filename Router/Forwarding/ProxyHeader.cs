namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// The <c>Proxy</c> request header, dropped on the way to backends unless
/// Router:ForwardProxyHeader is on (httpoxy: a CGI backend reads it as <c>HTTP_PROXY</c>).
/// </summary>
internal static class ProxyHeader
{
    public const string Name = "Proxy";

    public static bool Is(string headerName) =>
        headerName.Length == Name.Length && string.Equals(headerName, Name, StringComparison.OrdinalIgnoreCase);
}
