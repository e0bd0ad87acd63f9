using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Hipache.Aspire.Router.Listeners;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>Clients for a router's TLS listener: every https URL connects to that port (SNI = the URL's host), trusting one test CA.</summary>
internal static class TlsTestClient
{
    public static int Port(RunningRouter router)
    {
        var address = router.Services.GetRequiredService<RouterListeners>().RoutedAddresses.Single(a => a.StartsWith("https://", StringComparison.Ordinal));
        return new Uri(address).Port;
    }

    public static HttpClient Create(RunningRouter router, X509Certificate2 ca)
    {
        var port = Port(router);
        return new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPAddress.Loopback, port, token);
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, _, _) => Trusted(certificate, ca) },
        });
    }

    /// <summary>Issued by <paramref name="ca"/> (its name is the test's business).</summary>
    public static bool Trusted(X509Certificate? certificate, X509Certificate2 ca)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
