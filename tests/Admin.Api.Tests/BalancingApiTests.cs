using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

/// <summary><c>/v1/frontends/{host}/balancing</c>: stored in the project's own hash, validated, gone with its frontend.</summary>
public sealed class BalancingApiTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_policy_is_stored_beside_the_hipache_list_read_back_and_reset_to_random()
    {
        using var client = fixture.CreateClient();
        var host = $"lb.f{Guid.NewGuid():N}.test";
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "lb", backends = new[] { "http://10.2.0.1:8080", "http://10.2.0.2:8080" } }, Ct);

        using (var initial = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("random", initial.RootElement.GetProperty("policy").GetString());
            Assert.False(initial.RootElement.TryGetProperty("weights", out _));
        }

        var put = await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "weighted", weights = new Dictionary<string, int> { ["http://10.2.0.1:8080/"] = 3 } }, Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var stored = (await db.HashGetAllAsync(fixture.Prefix + "hipache-aspire:balance:" + host)).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal("weighted", stored["policy"]);
        Assert.Equal("3", stored["weight:http://10.2.0.1:8080"]);
        // Hipache's list is untouched: Hipache-era tooling still reads it as it was.
        Assert.Equal(["lb", "http://10.2.0.1:8080", "http://10.2.0.2:8080"], (await db.ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString()));

        using (var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("weighted", view.RootElement.GetProperty("policy").GetString());
            Assert.Equal(3, view.RootElement.GetProperty("weights").GetProperty("http://10.2.0.1:8080").GetInt32());
        }

        // The frontend's own view shows the policy, and a checker's last probe of each backend.
        await db.HashSetAsync(fixture.Prefix + "hipache-aspire:health:http://10.2.0.2:8080", [new("healthy", 0), new("latency-ms", "2.5"), new("checked-at", 1_800_000_000_000)]);
        using (var frontend = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}", Ct)))
        {
            Assert.Equal("weighted", frontend.RootElement.GetProperty("balancing").GetProperty("policy").GetString());
            var backends = frontend.RootElement.GetProperty("backends");
            Assert.False(backends[0].TryGetProperty("health", out _));
            var health = backends[1].GetProperty("health");
            Assert.False(health.GetProperty("healthy").GetBoolean());
            Assert.Equal(2.5, health.GetProperty("latencyMs").GetDouble());
            Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000), health.GetProperty("checkedAt").GetDateTimeOffset());
        }

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "hash", hashOn = "cookie:session" }, Ct)).StatusCode);
        using (var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("hash", view.RootElement.GetProperty("policy").GetString());
            Assert.Equal("cookie:session", view.RootElement.GetProperty("hashOn").GetString());
            Assert.False(view.RootElement.TryGetProperty("weights", out _));
        }

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "least-requests", slowStartSeconds = 30 }, Ct)).StatusCode);
        Assert.Equal("30000", (string?)await db.HashGetAsync(fixture.Prefix + "hipache-aspire:balance:" + host, "slow-start-ms"));
        using (var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal(30, view.RootElement.GetProperty("slowStartSeconds").GetInt32());
        }

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "random", healthCheckPath = "/healthz?deep=1" }, Ct)).StatusCode);
        Assert.Equal("/healthz?deep=1", (string?)await db.HashGetAsync(fixture.Prefix + "hipache-aspire:balance:" + host, "health-path"));
        using (var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("/healthz?deep=1", view.RootElement.GetProperty("healthCheckPath").GetString());
        }

        // Sticky sessions with Hipache's random choice: still settings of their own.
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "random", stickyCookie = "lb_sticky" }, Ct)).StatusCode);
        Assert.Equal("lb_sticky", (string?)await db.HashGetAsync(fixture.Prefix + "hipache-aspire:balance:" + host, "sticky-cookie"));
        using (var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("random", view.RootElement.GetProperty("policy").GetString());
            Assert.Equal("lb_sticky", view.RootElement.GetProperty("stickyCookie").GetString());
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}/balancing", Ct)).StatusCode);
        Assert.False(await db.KeyExistsAsync(fixture.Prefix + "hipache-aspire:balance:" + host));
        using (var reset = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct)))
        {
            Assert.Equal("random", reset.RootElement.GetProperty("policy").GetString());
        }
    }

    [Fact]
    public async Task Settings_go_with_their_frontend_and_a_missing_frontend_has_none()
    {
        using var client = fixture.CreateClient();
        var host = $"lbgone.f{Guid.NewGuid():N}.test";
        Assert.Equal(HttpStatusCode.NotFound, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "round-robin" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/frontends/{host}/balancing", Ct)).StatusCode);

        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "gone", backends = new[] { "http://10.2.1.1:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "round-robin" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}", Ct)).StatusCode);
        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().KeyExistsAsync(fixture.Prefix + "hipache-aspire:balance:" + host));

        // Recreated under the same name, it starts from Hipache's random choice.
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "gone", backends = new[] { "http://10.2.1.1:8080" } }, Ct);
        using var view = JsonDocument.Parse(await client.GetStringAsync($"/v1/frontends/{host}/balancing", Ct));
        Assert.Equal("random", view.RootElement.GetProperty("policy").GetString());
    }

    [Theory]
    [InlineData("""{"policy":"fastest"}""", "policy")]
    [InlineData("""{}""", "policy")]
    [InlineData("""{"policy":"hash"}""", "hashOn")]
    [InlineData("""{"policy":"hash","hashOn":"query:user"}""", "hashOn")]
    [InlineData("""{"policy":"hash","hashOn":"header:bad name"}""", "hashOn")]
    [InlineData("""{"policy":"round-robin","hashOn":"header:X-User"}""", "hashOn")]
    [InlineData("""{"policy":"random","weights":{"http://10.2.2.1:80":2}}""", "weights")]
    [InlineData("""{"policy":"weighted","weights":{"http://10.2.2.1:80":0}}""", "weights")]
    [InlineData("""{"policy":"weighted","weights":{"http://10.2.2.1:80":1001}}""", "weights")]
    [InlineData("""{"policy":"weighted","weights":{"ftp://10.2.2.1":2}}""", "weights")]
    [InlineData("""{"policy":"weighted","weights":{"http://10.2.2.1:80":2,"http://10.2.2.1:80/":3}}""", "weights")]
    [InlineData("""{"policy":"random","stickyCookie":"bad cookie"}""", "stickyCookie")]
    [InlineData("""{"policy":"random","stickyCookie":""}""", "stickyCookie")]
    [InlineData("""{"policy":"random","healthCheckPath":"healthz"}""", "healthCheckPath")]
    [InlineData("""{"policy":"random","healthCheckPath":"/health z"}""", "healthCheckPath")]
    [InlineData("""{"policy":"random","slowStartSeconds":-1}""", "slowStartSeconds")]
    [InlineData("""{"policy":"random","slowStartSeconds":3601}""", "slowStartSeconds")]
    [InlineData("""{"policy":"hash","hashOn":"header:X-User","slowStartSeconds":10}""", "slowStartSeconds")]
    public async Task Bad_settings_are_refused_with_a_problem_naming_the_field_and_nothing_is_stored(string body, string field)
    {
        using var client = fixture.CreateClient();
        var host = $"lbbad.f{Guid.NewGuid():N}.test";
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "bad", backends = new[] { "http://10.2.2.1:80" } }, Ct);
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        var response = await client.PutAsync($"/v1/frontends/{host}/balancing", content, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"no error for {field}: {problem.RootElement}");
        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().KeyExistsAsync(fixture.Prefix + "hipache-aspire:balance:" + host));
    }
}
