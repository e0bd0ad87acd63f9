using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>/v1/frontends/{host}/https: redirect and HSTS per frontend, kept apart from balancing although both share one hash.</summary>
public sealed class HttpsSettingsApiTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Https_settings_are_set_read_and_removed_and_balancing_writes_keep_them_and_the_other_way_round()
    {
        using var client = fixture.CreateClient();
        var host = $"https-{Guid.NewGuid():N}.test";
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "h", backends = new[] { "http://10.0.0.1:80", "http://10.0.0.2:80" } }, Ct);

        var off = await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}/https", Ct);
        Assert.False(off.GetProperty("redirect").GetBoolean());
        Assert.Equal(JsonValueKind.Null, off.GetProperty("hsts").ValueKind);

        using (var put = await client.PutAsJsonAsync($"/v1/frontends/{host}/https", new { redirect = true, hsts = new { maxAgeSeconds = 31536000, includeSubDomains = true, preload = true } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var hash = fixture.Prefix + "hipache-aspire:balance:" + host;
        Assert.Equal("max-age=31536000; includeSubDomains; preload", (string?)await db.HashGetAsync(hash, "hsts"));
        Assert.Equal(1, (int)await db.HashGetAsync(hash, "https-redirect"));

        // A balancing write replaces the balancing fields only.
        using (var balancing = await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "weighted", weights = new Dictionary<string, int> { ["http://10.0.0.1:80"] = 3 } }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, balancing.StatusCode);
        }

        using (var balancing = await client.PutAsJsonAsync($"/v1/frontends/{host}/balancing", new { policy = "round-robin" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, balancing.StatusCode);
        }

        Assert.False(await db.HashExistsAsync(hash, "weight:http://10.0.0.1:80"));
        var kept = await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}/https", Ct);
        Assert.True(kept.GetProperty("redirect").GetBoolean());
        Assert.Equal(31536000, kept.GetProperty("hsts").GetProperty("maxAgeSeconds").GetInt64());
        Assert.True(kept.GetProperty("hsts").GetProperty("preload").GetBoolean());

        // An HTTPS write keeps the balancing; so does removing it.
        using (var put = await client.PutAsJsonAsync($"/v1/frontends/{host}/https", new { redirect = false, hsts = new { maxAgeSeconds = 600 } }, Ct))
        {
            var body = await put.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.False(body.GetProperty("redirect").GetBoolean());
            Assert.False(body.GetProperty("hsts").GetProperty("includeSubDomains").GetBoolean());
        }

        Assert.Equal("round-robin", (await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}/balancing", Ct)).GetProperty("policy").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}/balancing", Ct)).StatusCode);
        Assert.Equal(600, (await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}/https", Ct)).GetProperty("hsts").GetProperty("maxAgeSeconds").GetInt64());

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}/https", Ct)).StatusCode);
        Assert.False(await db.HashExistsAsync(hash, "hsts"));
        Assert.False(await db.HashExistsAsync(hash, "https-redirect"));
    }

    [Fact]
    public async Task Bad_https_settings_and_unknown_frontends_get_problems_and_nothing_is_written()
    {
        using var client = fixture.CreateClient();
        var host = $"https-bad-{Guid.NewGuid():N}.test";
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "h", backends = new[] { "http://10.0.0.1:80" } }, Ct);

        object[] bad =
        [
            new { redirect = true, hsts = new { includeSubDomains = true } },
            new { redirect = true, hsts = new { maxAgeSeconds = -1 } },
            new { redirect = true, hsts = new { maxAgeSeconds = 63072001 } },
            new { redirect = true, hsts = new { maxAgeSeconds = 31536000, preload = true } },
            new { redirect = true, hsts = new { maxAgeSeconds = 600, includeSubDomains = true, preload = true } },
        ];
        foreach (var body in bad)
        {
            using var response = await client.PutAsJsonAsync($"/v1/frontends/{host}/https", body, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errors").TryGetProperty("hsts", out _));
        }

        Assert.False((await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}/https", Ct)).GetProperty("redirect").GetBoolean());
        using var unknown = await client.PutAsJsonAsync($"/v1/frontends/nope-{Guid.NewGuid():N}.test/https", new { redirect = true }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }
}
