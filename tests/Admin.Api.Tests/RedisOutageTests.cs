using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>Redis down: 503 problem+json with a retry hint, nothing half-written, and recovery without a restart.</summary>
public sealed class RedisOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redis_down_is_503_with_retry_after_and_the_api_recovers_by_itself()
    {
        // Its own Redis and service: stopping the shared one would break the tests running alongside.
        await using var isolated = new AdminApiFixture();
        await isolated.InitializeAsync();
        using var client = isolated.CreateClient();
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync("/v1/frontends/before.outage.test", new { app = "o", backends = new[] { "http://10.8.0.1:8080" } }, Ct)).StatusCode);

        await isolated.Redis.StopAsync();
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => client.PutAsJsonAsync("/v1/frontends/during.outage.test", new { app = "o", backends = new[] { "http://10.8.0.2:8080" } }, Ct),
            () => client.GetAsync("/v1/frontends/before.outage.test", Ct),
            () => client.PutAsJsonAsync("/v1/apps/o", new { hosts = new[] { "during.outage.test" }, backends = Array.Empty<string>() }, Ct),
            () => client.GetAsync("/v1/frontends", Ct),
        })
        {
            var response = await request();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(response.Headers.RetryAfter);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
        }

        // The server comes back empty (no persistence): a write must succeed again without restarting the service.
        await isolated.Redis.StartAgainAsync();
        await Poll.UntilAsync(
            async () => (await client.PutAsJsonAsync("/v1/frontends/after.outage.test", new { app = "o", backends = new[] { "http://10.8.0.3:8080" } }, Ct)).StatusCode,
            status => status is HttpStatusCode.Created or HttpStatusCode.OK,
            TimeSpan.FromSeconds(30),
            "the admin API to write again after Redis came back");
        using var view = JsonDocument.Parse(await client.GetStringAsync("/v1/frontends/after.outage.test", Ct));
        Assert.Equal("http://10.8.0.3:8080", view.RootElement.GetProperty("backends")[0].GetProperty("url").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/frontends/during.outage.test", Ct)).StatusCode);
    }
}
