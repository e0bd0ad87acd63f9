using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>DELETE /v1/frontends/{host}/dead: an operator clears a frontend's dead marks.</summary>
public sealed class DeadMarksApiTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Clearing_dead_marks_empties_the_dead_set_and_the_view_shows_every_backend_live()
    {
        using var client = fixture.CreateClient();
        var host = $"dead-{Guid.NewGuid():N}.test";
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "d", backends = new[] { "http://10.0.0.1:80", "http://10.0.0.2:80" } }, Ct);
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        await db.SetAddAsync(fixture.Prefix + "dead:" + host, [0, 1]);
        await db.KeyExpireAsync(fixture.Prefix + "dead:" + host, TimeSpan.FromMinutes(1));
        var before = await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}", Ct);
        Assert.All(before.GetProperty("backends").EnumerateArray(), b => Assert.True(b.GetProperty("dead").GetBoolean()));

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}/dead", Ct)).StatusCode);
        Assert.False(await db.KeyExistsAsync(fixture.Prefix + "dead:" + host));
        var after = await client.GetFromJsonAsync<JsonElement>($"/v1/frontends/{host}", Ct);
        Assert.All(after.GetProperty("backends").EnumerateArray(), b => Assert.False(b.GetProperty("dead").GetBoolean()));

        // Nothing to clear is still a success; an unknown frontend is not.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/frontends/{host}/dead", Ct)).StatusCode);
        var unknown = await client.DeleteAsync($"/v1/frontends/nope-{Guid.NewGuid():N}.test/dead", Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }
}
