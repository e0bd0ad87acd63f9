using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Hipache.Aspire.Router.Tests.GrpcEcho;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// HTTP/2 to clients on the TLS listeners (Router:Tls): h2 chosen by ALPN, routed with the usual
/// headers (X-Forwarded-Proto https), HTTP/1.1 clients still served in HTTP/1.1, and gRPC over
/// TLS to an h2c:// backend.
/// </summary>
public sealed class TlsHttp2Tests(RedisFixture fixture) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hipache-tls-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_h2_client_is_routed_by_alpn_and_an_http1_client_still_gets_http1()
    {
        var (cert, key, thumbprint) = WriteSelfSignedPem();
        await using var router = await StartTlsRouterAsync(cert, key);
        await using var backend = await TestBackend.StartAsync("a");
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "tls.test", "tls", backend.Url);
        var tlsPort = router.Services.GetRequiredService<Hipache.Aspire.Router.Listeners.RouterListeners>().RoutedPorts[1];
        using var client = new HttpClient(Trusting(thumbprint));

        foreach (var version in new[] { HttpVersion.Version20, HttpVersion.Version11 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{tlsPort}/path") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            request.Headers.Host = "tls.test";
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(version, response.Version);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("backend=a", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("https", response.Headers.GetValues("x-seen-x-forwarded-proto").Single());
            Assert.Equal("/path", response.Headers.GetValues("x-seen-path").Single());
        }
    }

    [Fact]
    public async Task A_grpc_client_over_tls_reaches_an_h2c_backend()
    {
        var (cert, key, thumbprint) = WriteSelfSignedPem();
        await using var router = await StartTlsRouterAsync(cert, key);
        await using var backend = await GrpcBackend.StartAsync();
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "grpc.tls.test", "grpc", backend.H2cUrl);
        var tlsPort = router.Services.GetRequiredService<Hipache.Aspire.Router.Listeners.RouterListeners>().RoutedPorts[1];

        using var channel = GrpcChannel.ForAddress($"https://127.0.0.1:{tlsPort}", new GrpcChannelOptions
        {
            HttpHandler = new AuthorityHandler("grpc.tls.test") { InnerHandler = Trusting(thumbprint) },
            DisposeHttpClient = true,
        });
        var reply = await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Text = "tls" }, cancellationToken: Ct);
        Assert.Equal("tls", reply.Text);
        Assert.Equal("HTTP/2", reply.Protocol);
        Assert.Equal("https", reply.ForwardedProto);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private Task<RunningRouter> StartTlsRouterAsync(string cert, string key) => RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?>
    {
        ["Router:Tls:0:Address"] = "127.0.0.1",
        ["Router:Tls:0:Port"] = "0",
        ["Router:Tls:0:Cert"] = cert,
        ["Router:Tls:0:Key"] = key,
    });

    /// <summary>A client that trusts this test's self-signed certificate and nothing else.</summary>
    private static SocketsHttpHandler Trusting(string thumbprint) => new()
    {
        UseProxy = false,
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(certificate.GetCertHashString(HashAlgorithmName.SHA1), thumbprint, StringComparison.OrdinalIgnoreCase),
        },
    };

    private (string Cert, string Key, string Thumbprint) WriteSelfSignedPem()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=tls.test", ecdsa, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("tls.test");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var cert = Path.Combine(_directory, "cert.pem");
        var key = Path.Combine(_directory, "key.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
        return (cert, key, certificate.Thumbprint);
    }
}
