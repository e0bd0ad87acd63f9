using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.Router.Tls;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.RouteStore.Certificates;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The certificate store on a TLS listener: selection by SNI (exact, wildcard, default, none),
/// certificates added and rotated while connections are open, the listener's own file as the last
/// fallback, and the bounds of what a router keeps in memory.
/// </summary>
public sealed class CertificateStoreTests(RedisFixture fixture) : IAsyncDisposable
{
    private static readonly string StoreKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private readonly TestCertificates _ca = new();
    private readonly OwnStoreConnections _connections = new(fixture.Redis);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        _ca.Dispose();
        await _connections.DisposeAsync();
    }

    /// <summary>The store as the admin API writes it, on the test's own connection.</summary>
    private CertificateStore StoreOf(RunningRouter router) => new(_connections.For(router));

    [Fact]
    public async Task The_certificate_is_chosen_by_sni_exact_then_wildcard_then_default_and_a_name_nothing_covers_is_refused()
    {
        await using var router = await StartAsync();
        var zone = $"z{Guid.NewGuid():N}.test";
        var exact = _ca.Issue(["a." + zone]);
        var wildcard = _ca.Issue(["*." + zone]);
        var fallback = _ca.Issue(["default.invalid"]);
        await PutAsync(router, "a." + zone, exact);
        await PutAsync(router, "*." + zone, wildcard);

        Assert.Equal(exact.Fingerprint, await FingerprintAsync(router, "a." + zone));
        Assert.Equal(wildcard.Fingerprint, await FingerprintAsync(router, "b." + zone));
        Assert.Equal(wildcard.Fingerprint, await FingerprintAsync(router, "B." + zone.ToUpperInvariant()));

        // Nothing covers these yet: no default, no file on the listener.
        await Assert.ThrowsAnyAsync<Exception>(() => FingerprintAsync(router, "deep.b." + zone));
        await Assert.ThrowsAnyAsync<Exception>(() => FingerprintAsync(router, "elsewhere.test"));
        await Assert.ThrowsAnyAsync<Exception>(() => FingerprintAsync(router, null));

        // A wildcard covers one label only; the default takes the rest, and clients without SNI.
        await PutAsync(router, CertificateNames.Default, fallback);
        await ServedAsync(router, "deep.b." + zone, fallback);
        Assert.Equal(fallback.Fingerprint, await FingerprintAsync(router, "elsewhere.test"));
        Assert.Equal(fallback.Fingerprint, await FingerprintAsync(router, null));
        Assert.Equal(exact.Fingerprint, await FingerprintAsync(router, "a." + zone));
    }

    [Fact]
    public async Task Requests_over_tls_are_routed_with_the_https_forwarding_headers_and_h2_is_offered_by_alpn()
    {
        await using var router = await StartAsync();
        await using var backend = await TestBackend.StartAsync("tls");
        await using var redis = await fixture.Redis.ConnectAsync();
        var host = $"t{Guid.NewGuid():N}.test";
        await router.RpushAsync(redis.GetDatabase(), host, "tls", backend.Url);
        await PutAsync(router, host, _ca.Issue([host]));

        foreach (var version in new[] { HttpVersion.Version11, HttpVersion.Version20 })
        {
            using var client = TlsClient(router);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{host}:{TlsPort(router)}/over-tls") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
            Assert.Equal("backend=tls", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("https", response.Headers.GetValues("x-seen-x-forwarded-proto").Single());
        }
    }

    [Fact]
    public async Task A_new_or_rotated_certificate_is_served_on_the_next_handshake_while_open_connections_keep_theirs()
    {
        await using var router = await StartAsync();
        await using var backend = await TestBackend.StartAsync("rot");
        await using var redis = await fixture.Redis.ConnectAsync();
        var host = $"rot{Guid.NewGuid():N}.test";
        await router.RpushAsync(redis.GetDatabase(), host, "rot", backend.Url);
        var fallback = _ca.Issue(["default.invalid"]);
        await PutAsync(router, CertificateNames.Default, fallback);

        // A client connected before the tenant's certificate exists gets the default...
        await using var early = await TlsConnection.OpenAsync(TlsPort(router), host, _ca.Ca);
        Assert.Equal(fallback.Fingerprint, early.Fingerprint);
        Assert.Contains("backend=rot", await early.GetAsync(host), StringComparison.Ordinal);

        // ...the tenant's own is served from the next handshake on, without a restart...
        var first = _ca.Issue([host]);
        await PutAsync(router, host, first);
        await ServedAsync(router, host, first);

        // ...a renewal too, and the connection opened first still works with the one it got.
        var second = _ca.Issue([host]);
        await PutAsync(router, host, second);
        await ServedAsync(router, host, second);
        Assert.Contains("backend=rot", await early.GetAsync(host), StringComparison.Ordinal);
        Assert.Equal(fallback.Fingerprint, early.Fingerprint);

        // Deleted: back to the default on the next handshake.
        await StoreOf(router).DeleteAsync(host, Ct);
        await ServedAsync(router, host, fallback);
    }

    [Fact]
    public async Task The_listeners_own_certificate_is_the_last_fallback_and_a_key_the_router_cannot_decrypt_is_not_used()
    {
        using var files = new PemFiles(_ca.Issue(["listener.invalid"]));
        // This router has a key id the writer did not use: nothing stored decrypts here.
        var otherKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await using var router = await StartAsync(new Dictionary<string, string?>
        {
            ["Router:Tls:0:Cert"] = files.CertPath,
            ["Router:Tls:0:Key"] = files.KeyPath,
            ["CertificateStore:Keys:other"] = otherKey,
        }, testKey: false);
        Assert.Equal(files.Certificate.Fingerprint, await FingerprintAsync(router, "anything.test"));

        var host = $"k{Guid.NewGuid():N}.test";
        var stored = _ca.Issue([host]);
        var writer = new PrivateKeyProtector(Microsoft.Extensions.Options.Options.Create(Keys(("test", StoreKey))));
        await StoreOf(router).PutAsync(Stored(writer, host, stored), Ct);
        // Encrypted under a key this router lacks: the listener's file, not a failed handshake.
        Assert.Equal(files.Certificate.Fingerprint, await FingerprintAsync(router, host));
    }

    [Fact]
    public async Task Names_held_in_memory_are_bounded_and_a_flood_of_unknown_names_does_not_evict_tenants()
    {
        await using var router = await StartAsync(new Dictionary<string, string?> { ["Router:CertificateCacheSize"] = "16" });
        var selector = router.Services.GetRequiredService<CertificateSelector>();
        var zone = $"z{Guid.NewGuid():N}.test";
        var wildcard = _ca.Issue(["*." + zone]);
        var fallback = _ca.Issue(["default.invalid"]);
        await PutAsync(router, "*." + zone, wildcard);
        await PutAsync(router, CertificateNames.Default, fallback);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(wildcard.Fingerprint, await FingerprintAsync(router, $"t{i}." + zone));
        }

        // 100 names nobody stored: served by the default, held in the fallback quarter (4) only.
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(fallback.Fingerprint, await FingerprintAsync(router, $"junk{i}.invalid"));
        }

        Assert.InRange(selector.CachedNames, 10, 10 + 4);
        // Every name a wildcard serves shares one decrypted certificate.
        Assert.InRange(selector.LoadedCertificates, 1, 2);

        // 40 more tenant names: the tenant map stays within its bound too.
        for (var i = 10; i < 50; i++)
        {
            Assert.Equal(wildcard.Fingerprint, await FingerprintAsync(router, $"t{i}." + zone));
        }

        Assert.InRange(selector.CachedNames, 1, 16 + 4);
    }

    /// <summary>
    /// The change reaches the router as a message, applied moments after the write returns: the
    /// first handshake after it is polled for, within a deadline.
    /// </summary>
    private Task<string?> ServedAsync(RunningRouter router, string serverName, TestCertificate expected) =>
        Poll.UntilAsync(() => TryFingerprintAsync(router, serverName), f => f == expected.Fingerprint, TimeSpan.FromSeconds(10), $"{serverName} served {expected.Leaf.Subject}");

    private async Task<RunningRouter> StartAsync(IDictionary<string, string?>? extra = null, bool testKey = true)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Router:Tls:0:Address"] = "127.0.0.1",
            ["Router:Tls:0:Port"] = "0",
        };
        if (testKey)
        {
            settings["CertificateStore:Keys:test"] = StoreKey;
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return await RunningRouter.StartAsync(fixture.Redis, settings);
    }

    private static CertificateStoreOptions Keys(params (string Id, string Key)[] keys)
    {
        var options = new CertificateStoreOptions();
        foreach (var (id, key) in keys)
        {
            options.Keys[id] = key;
        }

        return options;
    }

    private static StoredCertificate Stored(PrivateKeyProtector protector, string name, TestCertificate certificate)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(certificate.KeyPem);
        return new StoredCertificate(name, certificate.ChainPem, protector.Protect(name, key.ExportPkcs8PrivateKey()),
            new DateTimeOffset(certificate.Leaf.NotAfter.ToUniversalTime()), DateTimeOffset.UtcNow);
    }

    /// <summary>Stores as the admin API does (same store, same protection, same change message).</summary>
    private Task PutAsync(RunningRouter router, string name, TestCertificate certificate) =>
        StoreOf(router).PutAsync(Stored(router.Services.GetRequiredService<PrivateKeyProtector>(), name, certificate), Ct);

    private static int TlsPort(RunningRouter router) => TlsTestClient.Port(router);

    private async Task<string> FingerprintAsync(RunningRouter router, string? serverName)
    {
        await using var connection = await TlsConnection.OpenAsync(TlsPort(router), serverName, _ca.Ca);
        return connection.Fingerprint;
    }

    private async Task<string?> TryFingerprintAsync(RunningRouter router, string? serverName)
    {
        try
        {
            return await FingerprintAsync(router, serverName);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException)
        {
            return null;
        }
    }

    private HttpClient TlsClient(RunningRouter router) => TlsTestClient.Create(router, _ca.Ca);

    private static bool Trusted(X509Certificate? certificate, X509Certificate2 ca) => TlsTestClient.Trusted(certificate, ca);

    /// <summary>One raw TLS connection: the certificate it got, and HTTP/1.1 requests over it.</summary>
    private sealed class TlsConnection : IAsyncDisposable
    {
        private readonly TcpClient _tcp;
        private readonly SslStream _ssl;

        private TlsConnection(TcpClient tcp, SslStream ssl, string fingerprint)
        {
            _tcp = tcp;
            _ssl = ssl;
            Fingerprint = fingerprint;
        }

        public string Fingerprint { get; }

        /// <summary>Any certificate <paramref name="ca"/> issued is accepted, whatever its name: the tests read which one was chosen.</summary>
        public static async Task<TlsConnection> OpenAsync(int port, string? serverName, X509Certificate2 ca)
        {
            var tcp = new TcpClient();
            try
            {
                await tcp.ConnectAsync(IPAddress.Loopback, port, Ct);
                var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
                // An empty target host sends no SNI at all.
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = serverName ?? string.Empty,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => Trusted(certificate, ca),
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                }, Ct);
                var fingerprint = X509CertificateLoader.LoadCertificate(ssl.RemoteCertificate!.GetRawCertData()).GetCertHashString(HashAlgorithmName.SHA256);
                return new TlsConnection(tcp, ssl, fingerprint);
            }
            catch
            {
                tcp.Dispose();
                throw;
            }
        }

        public async Task<string> GetAsync(string host)
        {
            await _ssl.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"), Ct);
            var buffer = new byte[8192];
            var text = new StringBuilder();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            while (!text.ToString().Contains("backend=", StringComparison.Ordinal) && !text.ToString().Contains("</html>", StringComparison.OrdinalIgnoreCase))
            {
                var read = await _ssl.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            return text.ToString();
        }

        public async ValueTask DisposeAsync()
        {
            await _ssl.DisposeAsync();
            _tcp.Dispose();
        }
    }
}
