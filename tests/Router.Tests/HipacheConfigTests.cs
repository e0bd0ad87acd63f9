using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat section 8 (the drop-in config file), 5.6 (debug headers), 5.7 (access log) and TLS listeners.</summary>
public sealed class HipacheConfigTests(RedisFixture fixture) : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hipache-config-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Section8_hipache_config_file_drives_listeners_driver_options_tls_and_the_access_log()
    {
        var (cert, key) = WriteSelfSignedPem();
        var accessLog = Path.Combine(_directory, "logs", "access.log");
        var prefix = $"t{Guid.NewGuid():N}:";
        var configPath = Path.Combine(_directory, "config.json");
        await File.WriteAllTextAsync(configPath, $$"""
            {
              "server": { "debug": true, "workers": 10, "retryOnError": 0, "tcpTimeout": 7, "deadBackendTTL": 12, "accessLog": "{{accessLog}}" },
              "http": { "bind": [ { "address": "127.0.0.1", "port": 0 } ] },
              "https": { "bind": [ { "address": "127.0.0.1", "port": 0 } ], "key": "{{key}}", "cert": "{{cert}}", "ciphers": "HIGH" },
              "driver": "redis://127.0.0.1:{{fixture.Redis.Port}}#{{prefix}}",
              "user": "www-data"
            }
            """, Ct);

        await using var backend = await TestBackend.StartAsync("A");
        await using var router = await RunningRouter.StartWithArgsAsync(["--config", configPath], prefix, new Dictionary<string, string?>());
        var options = router.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Configuration.RouterOptions>>().Value;
        Assert.Equal(0, options.RetryOnError);
        Assert.Equal(TimeSpan.FromSeconds(7), options.TcpTimeout);
        Assert.Equal(TimeSpan.FromSeconds(12), options.DeadBackendTtl);
        Assert.True(options.Debug);

        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "conf.test", "conf-app", backend.Url);

        // Plain HTTP listener from http.bind, with the debug headers server.debug enabled.
        using var response = await router.GetAsync("conf.test", "/x?y=1", r =>
        {
            r.Headers.TryAddWithoutValidation("X-Debug", "1");
            r.Headers.TryAddWithoutValidation("User-Agent", "evil\" \"agent");
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("conf-app", response.Headers.GetValues("x-debug-vhost").Single());
        Assert.Equal("0", response.Headers.GetValues("x-debug-backend-id").Single());
        Assert.Equal(backend.Url + "/", response.Headers.GetValues("x-debug-backend-url").Single());
        Assert.Equal("conf.test", response.Headers.GetValues("x-debug-frontend-key").Single());
        Assert.True(response.Headers.Contains("x-debug-time-total"));

        // TLS listener from https.bind, with the PEM certificate.
        var tlsPort = router.Services.GetRequiredService<RouterListeners>().RoutedPorts[1];
        using var tlsClient = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Subject.Contains("hipache.test", StringComparison.Ordinal) },
        });
        using var tlsRequest = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{tlsPort}/");
        tlsRequest.Headers.Host = "conf.test";
        using var tlsResponse = await tlsClient.SendAsync(tlsRequest, Ct);
        Assert.Equal("backend=A", await tlsResponse.Content.ReadAsStringAsync(Ct));
        Assert.Equal("https", tlsResponse.Headers.GetValues("x-seen-x-forwarded-proto").Single());

        // Access log lines, Hipache's format, quotes escaped (Q22), unknown hosts logged too.
        Assert.Equal(400, (await router.GetTextAsync("nobody.test")).Status);
        var lines = await Poll.UntilAsync(async () => File.Exists(accessLog) ? await ReadSharedAsync(accessLog) : [], l => l.Length >= 3, what: "three access log lines");
        Assert.Matches(@"^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] ""GET /x\?y=1 HTTP/1\.1"" 200 9 """" ""evil\\x22 \\x22agent"" ""conf-app"" \d+(\.\d+)? \d+(\.\d+)?$", lines[0]);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"""GET / HTTP/1\.1"" 400 \d+ """" ""[^""]*"" """" \d+(\.\d+)? 0$"));
    }

    [Fact]
    public async Task Q24_a_legacy_server_https_without_address_listens_everywhere_and_says_so()
    {
        var (cert, key) = WriteSelfSignedPem();
        var configPath = Path.Combine(_directory, "legacy.json");
        await File.WriteAllTextAsync(configPath, $$"""
            { "server": { "port": 0, "https": { "port": 0, "key": "{{key}}", "cert": "{{cert}}" } } }
            """, Ct);
        var config = Configuration.HipacheConfigFile.Load(configPath, hasConnectionString: true);
        Assert.Equal("::", config.Settings["Router:Tls:0:Address"]);
        Assert.Equal("http://127.0.0.1:0", config.Settings["Router:Urls:0"]);
        Assert.Contains(config.Notes, n => n.Contains("server.https", StringComparison.Ordinal) && n.Contains("every address", StringComparison.Ordinal));
        Assert.Contains(config.Notes, n => n.Contains("server.port", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Q14_debug_headers_are_off_unless_enabled()
    {
        await using var backend = await TestBackend.StartAsync("A");
        await using var router = await RunningRouter.StartAsync(fixture.Redis);
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "nodebug.test", "app", backend.Url);
        using var response = await router.GetAsync("nodebug.test", "/", r => r.Headers.TryAddWithoutValidation("X-Debug", "1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(response.Headers, h => h.Key.StartsWith("x-debug-", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Section8_an_invalid_config_file_fails_the_start_with_its_path()
    {
        var configPath = Path.Combine(_directory, "broken.json");
        await File.WriteAllTextAsync(configPath, "{ \"server\": ", Ct);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            RunningRouter.StartWithArgsAsync(["--config", configPath], "x:", new Dictionary<string, string?> { ["ConnectionStrings:redis"] = fixture.Redis.ConnectionString }));
        Assert.Contains(configPath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Section8_1_dry_run_prints_the_resolved_settings_without_secrets()
    {
        var configPath = Path.Combine(_directory, "dry.json");
        await File.WriteAllTextAsync(configPath, """{ "server": { "retryOnError": 5 }, "driver": ["redis://:s3cret@127.0.0.1:6379/1#p:", "redis://:w4cret@127.0.0.1:6380"] }""", Ct);
        var app = RouterApplication.Create(["--config", configPath, "--dry"]);
        await using (app)
        {
            var text = RouterApplication.DescribeConfiguration(app);
            Assert.Contains("\"RetryOnError\": 5", text, StringComparison.Ordinal);
            Assert.Contains("127.0.0.1:6380", text, StringComparison.Ordinal);
            Assert.DoesNotContain("s3cret", text, StringComparison.Ordinal);
            Assert.DoesNotContain("w4cret", text, StringComparison.Ordinal);
        }
    }

    private static async Task<string[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return (await reader.ReadToEndAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private (string Cert, string Key) WriteSelfSignedPem()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=hipache.test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var cert = Path.Combine(_directory, "cert.pem");
        var key = Path.Combine(_directory, "key.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        return (cert, key);
    }
}
