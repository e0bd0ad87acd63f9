using System.Net;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Router:H2cUrls: a routed listener for HTTP/2 clients without TLS (prior knowledge), with the
/// same routing, forwarding headers and error pages as the HTTP/1.1 listener.
/// </summary>
public sealed class H2cListenerTests(RedisFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_http2_client_with_prior_knowledge_is_routed_with_the_usual_headers_and_error_pages()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" });
        await using var backend = await TestBackend.StartAsync("a");
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "h2.test", "h2", backend.Url);
        var listeners = router.Services.GetRequiredService<RouterListeners>();
        var h2cPort = listeners.RoutedPorts[1];
        Assert.Contains($"h2c://127.0.0.1:{h2cPort}", listeners.RoutedAddresses);

        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using (var request = H2(new Uri($"http://127.0.0.1:{h2cPort}/path?q=1")))
        {
            request.Headers.Host = "h2.test";
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("backend=a", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("/path?q=1", response.Headers.GetValues("x-seen-path").Single());
            Assert.Equal("http", response.Headers.GetValues("x-seen-x-forwarded-proto").Single());
            Assert.Equal("127.0.0.1", response.Headers.GetValues("x-seen-x-forwarded-for").Single());
        }

        using (var unknown = H2(new Uri($"http://127.0.0.1:{h2cPort}/")))
        {
            unknown.Headers.Host = "nobody.test";
            using var response = await client.SendAsync(unknown, Ct);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("No Application Configured", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // The HTTP/1.1 listener is unchanged beside it.
        Assert.Equal((200, "backend=a"), await router.GetTextAsync("h2.test"));
    }

    /// <summary>HTTP/2 with prior knowledge: no fallback to HTTP/1.1 (a request's own version applies, not the client's default).</summary>
    private static HttpRequestMessage H2(Uri uri) => new(HttpMethod.Get, uri) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
}
