using System.Net;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>A frontend's HTTPS settings: 308 from plain HTTP to HTTPS, HSTS only over HTTPS, a trusted TLS-terminating proxy counted as HTTPS.</summary>
public sealed class HttpsPolicyTests(RedisFixture fixture) : IAsyncDisposable
{
    private const string Hsts = "max-age=31536000; includeSubDomains";
    private readonly TestCertificates _ca = new();
    private readonly OwnStoreConnections _connections = new(fixture.Redis);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        _ca.Dispose();
        await _connections.DisposeAsync();
    }

    /// <summary>A writer on the test's own connection.</summary>
    private RouteWriter WriterOf(RunningRouter router) => new(_connections.For(router));

    [Fact]
    public async Task Plain_http_is_redirected_with_308_to_the_same_url_over_https_which_carries_hsts_replacing_the_backends()
    {
        using var files = new PemFiles(_ca.Issue(["*.https.test"]));
        await using var router = await StartAsync(files);
        // The backend sends its own, weaker policy: the frontend's replaces it.
        await using var backend = await TestBackend.StartAsync("secure", context =>
        {
            context.Response.Headers.StrictTransportSecurity = "max-age=60";
            return context.Response.WriteAsync("backend=secure", context.RequestAborted);
        });
        var host = $"r{Guid.NewGuid():N}.https.test";
        await RouteAsync(router, host, backend, new HttpsPolicy(true, Hsts));

        using (var response = await router.GetAsync(host + ":8080", "/a/b%20c?x=1&y=%2F"))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
            Assert.Equal($"https://{host}/a/b%20c?x=1&y=%2F", response.Headers.Location?.OriginalString);
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }

        // 308 keeps the method: a POST is redirected too, not forwarded over plain HTTP.
        using (var post = new HttpRequestMessage(HttpMethod.Post, "/form") { Content = new StringContent("x=1") })
        {
            post.Headers.Host = host;
            using var response = await router.Client.SendAsync(post, Ct);
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
            Assert.Equal($"https://{host}/form", response.Headers.Location?.OriginalString);
        }

        using var tls = TlsTestClient.Create(router, _ca.Ca);
        using (var response = await tls.GetAsync($"https://{host}/a", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("backend=secure", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(Hsts, Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        }

        // The router's own answers over HTTPS carry it too (an unknown path on a dead backend: 502).
        await using var redis = await fixture.Redis.ConnectAsync();
        var dead = $"d{Guid.NewGuid():N}.https.test";
        await router.RpushAsync(redis.GetDatabase(), dead, "dead", "http://127.0.0.1:1");
        await WriterOf(router).SetHttpsAsync(dead, new HttpsPolicy(false, Hsts), Ct);
        using (var response = await tls.GetAsync($"https://{dead}/", Ct))
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal(Hsts, Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        }

        // Settings removed: plain HTTP is served again, from the next request on.
        await WriterOf(router).SetHttpsAsync(host, HttpsPolicy.None, Ct);
        await Poll.UntilAsync(() => router.GetTextAsync(host), r => r.Status == 200, TimeSpan.FromSeconds(10), "plain HTTP served once the redirect is off");
    }

    [Fact]
    public async Task Hsts_is_never_sent_over_plain_http_and_the_redirect_port_is_configurable()
    {
        using var files = new PemFiles(_ca.Issue(["*.https.test"]));
        await using var router = await StartAsync(files, new Dictionary<string, string?> { ["Router:HttpsRedirectPort"] = "8443" });
        await using var backend = await TestBackend.StartAsync("plain");
        var hstsOnly = $"h{Guid.NewGuid():N}.https.test";
        await RouteAsync(router, hstsOnly, backend, new HttpsPolicy(false, Hsts));
        using (var response = await router.GetAsync(hstsOnly))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }

        var redirect = $"p{Guid.NewGuid():N}.https.test";
        await RouteAsync(router, redirect, backend, new HttpsPolicy(true, null));
        using (var response = await router.GetAsync(redirect, "/x"))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
            Assert.Equal($"https://{redirect}:8443/x", response.Headers.Location?.OriginalString);
        }

        // No HSTS configured: none sent over HTTPS either.
        using var tls = TlsTestClient.Create(router, _ca.Ca);
        using (var response = await tls.GetAsync($"https://{redirect}/", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        }
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_its_x_forwarded_proto_decides_and_an_untrusted_clients_does_not()
    {
        using var files = new PemFiles(_ca.Issue(["*.https.test"]));
        await using var trusting = await StartAsync(files, new Dictionary<string, string?> { ["Router:TrustedProxies:0"] = "127.0.0.1/32" });
        await using var backend = await TestBackend.StartAsync("lb");
        var host = $"t{Guid.NewGuid():N}.https.test";
        await RouteAsync(trusting, host, backend, new HttpsPolicy(true, Hsts));

        using (var response = await trusting.GetAsync(host, "/", r => r.Headers.Add("X-Forwarded-Proto", "https")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Hsts, Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        }

        using (var response = await trusting.GetAsync(host, "/", r => r.Headers.Add("X-Forwarded-Proto", "http, https")))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        }

        await using var untrusting = await StartAsync(files);
        await RouteAsync(untrusting, host, backend, new HttpsPolicy(true, Hsts));
        using (var response = await untrusting.GetAsync(host, "/", r => r.Headers.Add("X-Forwarded-Proto", "https")))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        }
    }

    private async Task<RunningRouter> StartAsync(PemFiles files, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Router:Tls:0:Address"] = "127.0.0.1",
            ["Router:Tls:0:Port"] = "0",
            ["Router:Tls:0:Cert"] = files.CertPath,
            ["Router:Tls:0:Key"] = files.KeyPath,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return await RunningRouter.StartAsync(fixture.Redis, settings);
    }

    private async Task RouteAsync(RunningRouter router, string host, TestBackend backend, HttpsPolicy https)
    {
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), host, host, backend.Url);
        await WriterOf(router).SetHttpsAsync(host, https, Ct);
    }
}
