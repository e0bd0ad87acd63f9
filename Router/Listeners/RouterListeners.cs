using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Net.Security;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Tls;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Hipache.Aspire.Router.Listeners;

/// <summary>
/// Binds the routed listeners and the separate management listener. The router answers every
/// Host on its routed listeners, so health and liveness cannot live there (DESIGN "hot path").
/// Keeps the management <see cref="ListenOptions"/> so that the request pipeline can tell the
/// two apart by local port after an ephemeral port was bound.
/// </summary>
public sealed class RouterListeners
{
    private readonly List<ListenOptions> _routed = [];
    private readonly List<ListenOptions> _management = [];
    private readonly HashSet<ListenOptions> _tls = [];
    private readonly HashSet<ListenOptions> _h2c = [];

    /// <summary>The management port actually bound (known after start).</summary>
    public int ManagementPort => _management.Count == 0 ? -1 : _management[0].IPEndPoint?.Port ?? -1;

    /// <summary>The management listener's address as bound (an any-address stays as such).</summary>
    public string ManagementHost => _management.Count == 0 || _management[0].IPEndPoint is not { } endpoint ? "?" : Host(endpoint);

    /// <summary>The routed listeners as bound, <c>http://127.0.0.1:8080</c> (known after start).</summary>
    public IReadOnlyList<string> RoutedAddresses =>
        [.. _routed.Where(l => l.IPEndPoint is not null).Select(l => $"{(_tls.Contains(l) ? "https" : _h2c.Contains(l) ? "h2c" : "http")}://{Host(l.IPEndPoint!)}:{l.IPEndPoint!.Port}")];

    /// <summary>The routed ports actually bound (known after start).</summary>
    public IReadOnlyList<int> RoutedPorts => [.. _routed.Select(l => l.IPEndPoint?.Port ?? -1)];

    internal void Configure(KestrelServerOptions kestrel, RouterOptions options, IEnumerable<string> routedUrls, CertificateSelector? certificates)
    {
        foreach (var url in routedUrls)
        {
            var address = BindingAddress.Parse(url);
            if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"Routed listener '{url}': only http:// URLs are supported here; configure TLS listeners through the Hipache https section.");
            }

            Listen(kestrel, address.Host, address.Port, _routed);
        }

        foreach (var url in options.H2cUrls)
        {
            var address = BindingAddress.Parse(url);
            if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"Router:H2cUrls '{url}': an h2c listener is an http:// URL (HTTP/2 without TLS).");
            }

            Listen(kestrel, address.Host, address.Port, _routed, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                _h2c.Add(listen);
            });
        }

        foreach (var tls in options.Tls)
        {
            var certificate = LoadCertificate(tls, certificates?.IsEnabled == true);
            var chain = new X509Certificate2Collection();
            foreach (var ca in tls.Ca)
            {
                chain.ImportFromPemFile(ca);
            }

            Listen(kestrel, tls.Address, tls.Port, _routed, listen =>
            {
                Http1AndHttp2(listen);
                if (certificates?.IsEnabled == true)
                {
                    // The certificate store first (by SNI), this listener's own files as the last fallback.
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = certificates.SelectAsync,
                        OnConnectionState = certificate is null ? null : SslStreamCertificateContext.Create(certificate, chain, offline: true),
                    });
                }
                else
                {
                    listen.UseHttps(https =>
                    {
                        https.ServerCertificate = certificate;
                        if (chain.Count > 0)
                        {
                            https.ServerCertificateChain = chain;
                        }
                    });
                }

                _tls.Add(listen);
            });
        }

        Listen(kestrel, options.ManagementAddress, options.ManagementPort, _management);
    }

    /// <summary>
    /// A TLS listener offers h2 by ALPN and falls back to HTTP/1.1: Kestrel's default, set here
    /// so that an <c>EndpointDefaults</c> setting cannot silently take HTTP/2 (and gRPC) away.
    /// </summary>
    private static ListenOptions Http1AndHttp2(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        return listen;
    }

    private static string Host(IPEndPoint endpoint) =>
        endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();

    private static X509Certificate2? LoadCertificate(TlsListenerOptions tls, bool storeEnabled)
    {
        if (string.IsNullOrEmpty(tls.Cert) && string.IsNullOrEmpty(tls.Key))
        {
            return storeEnabled
                ? null
                : throw new InvalidOperationException($"TLS listener {tls.Address}:{tls.Port} has no certificate: set its Cert and Key files, or CertificateStore:Keys to serve certificates from the store.");
        }

        try
        {
            return string.IsNullOrEmpty(tls.Passphrase)
                ? X509Certificate2.CreateFromPemFile(tls.Cert, tls.Key)
                : X509Certificate2.CreateFromEncryptedPemFile(tls.Cert, tls.Passphrase, tls.Key);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"TLS listener {tls.Address}:{tls.Port}: cannot load certificate '{tls.Cert}' with key '{tls.Key}': {ex.Message}", ex);
        }
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port, List<ListenOptions> into, Action<ListenOptions>? configure = null)
    {
        void Keep(ListenOptions listen)
        {
            configure?.Invoke(listen);
            into.Add(listen);
        }

        if (host is "*" or "+" or "0.0.0.0" or "[::]" or "::")
        {
            kestrel.ListenAnyIP(port, Keep);
        }
        else if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            // ListenLocalhost refuses port 0; loopback IPv4 is what tests and DCP use.
            if (port == 0)
            {
                kestrel.Listen(IPAddress.Loopback, 0, Keep);
            }
            else
            {
                kestrel.ListenLocalhost(port, Keep);
            }
        }
        else if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
        {
            kestrel.Listen(ip, port, Keep);
        }
        else
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Cannot listen on '{host}:{port}': use an IP address, localhost or *."));
        }
    }

    /// <summary>Routed URLs: Router:Urls, then ASP.NET Core's urls (ASPNETCORE_URLS), then HTTP_PORTS, then port 8080.</summary>
    internal static IReadOnlyList<string> ResolveRoutedUrls(RouterOptions options, IConfiguration configuration)
    {
        if (options.Urls.Count > 0)
        {
            return [.. options.Urls];
        }

        var urls = configuration["urls"];
        if (!string.IsNullOrWhiteSpace(urls))
        {
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        var ports = configuration["HTTP_PORTS"];
        if (!string.IsNullOrWhiteSpace(ports))
        {
            return [.. ports.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}")];
        }

        return ["http://*:8080"];
    }
}
