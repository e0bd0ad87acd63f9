using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

public sealed class FrontendsApiTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Put_get_delete_round_trip_writes_the_hipache_list()
    {
        using var client = fixture.CreateClient();
        var put = await client.PutAsJsonAsync("/v1/frontends/WWW.Round.Test", new { app = "round", backends = new[] { "http://10.0.0.5:8080", "http://10.0.0.6:8080/" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal("/v1/frontends/www.round.test", put.Headers.Location?.ToString());

        await using var redis = await fixture.Redis.ConnectAsync();
        var list = await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:www.round.test");
        Assert.Equal(["round", "http://10.0.0.5:8080", "http://10.0.0.6:8080"], list.Select(v => v.ToString()));

        var again = await client.PutAsJsonAsync("/v1/frontends/www.round.test", new { app = "round", backends = new[] { "http://10.0.0.7:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);

        using var view = JsonDocument.Parse(await client.GetStringAsync("/v1/frontends/www.round.test", Ct));
        Assert.Equal("round", view.RootElement.GetProperty("app").GetString());
        Assert.Equal("http://10.0.0.7:8080", view.RootElement.GetProperty("backends")[0].GetProperty("url").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/v1/frontends/www.round.test", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v1/frontends/www.round.test", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync("/v1/frontends/www.round.test", Ct)).StatusCode);
    }

    [Fact]
    public async Task An_h2c_backend_is_accepted_normalized_and_stored_as_this_projects_extension()
    {
        using var client = fixture.CreateClient();
        var put = await client.PutAsJsonAsync("/v1/frontends/grpc.round.test", new { app = "grpc", backends = new[] { "H2C://Grpc.Internal:50051/", "http://10.0.0.8:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/v1/frontends/grpc.round.test/backends", new { url = "h2c://[::1]:50052" }, Ct)).StatusCode);

        await using var redis = await fixture.Redis.ConnectAsync();
        var list = await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:grpc.round.test");
        Assert.Equal(["grpc", "h2c://grpc.internal:50051", "http://10.0.0.8:8080", "h2c://[::1]:50052"], list.Select(v => v.ToString()));
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/v1/frontends/grpc.round.test/backends?url=h2c://[::1]:50052", Ct)).StatusCode);
    }

    [Fact]
    public async Task Backends_are_added_once_and_removed()
    {
        using var client = fixture.CreateClient();
        await client.PutAsJsonAsync("/v1/frontends/pool.test", new { app = "pool", backends = Array.Empty<string>() }, Ct);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/v1/frontends/pool.test/backends", new { url = "http://10.1.0.1:80" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/v1/frontends/pool.test/backends", new { url = "http://10.1.0.1:80" }, Ct)).StatusCode);
        using (var view = JsonDocument.Parse(await client.GetStringAsync("/v1/frontends/pool.test", Ct)))
        {
            Assert.Equal(1, view.RootElement.GetProperty("backends").GetArrayLength());
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/v1/frontends/pool.test/backends?url=http://10.1.0.1:80", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync("/v1/frontends/pool.test/backends?url=http://10.1.0.1:80", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync("/v1/frontends/absent.test/backends", new { url = "http://10.1.0.1" }, Ct)).StatusCode);
    }

    [Fact]
    public async Task A_put_that_changes_nothing_keeps_dead_marks_and_one_that_changes_the_list_drops_them()
    {
        using var client = fixture.CreateClient();
        var host = $"dead.f{Guid.NewGuid():N}.test";
        var body = new { app = "dead", backends = new[] { "http://10.0.1.1:8080", "http://10.0.1.2:8080" } };
        await client.PutAsJsonAsync($"/v1/frontends/{host}", body, Ct);
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        var deadKey = fixture.Prefix + "dead:" + host;
        await db.SetAddAsync(deadKey, 1);
        await db.KeyExpireAsync(deadKey, TimeSpan.FromMinutes(1));

        var same = await client.PutAsJsonAsync($"/v1/frontends/{host}", body, Ct);
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        using (var view = JsonDocument.Parse(await same.Content.ReadAsStringAsync(Ct)))
        {
            Assert.True(view.RootElement.GetProperty("backends")[1].GetProperty("dead").GetBoolean());
        }

        Assert.True(await db.KeyExistsAsync(deadKey));
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "dead", backends = new[] { "http://10.0.1.2:8080" } }, Ct);
        Assert.False(await db.KeyExistsAsync(deadKey));
    }

    [Theory]
    [InlineData("bad_host!", "http://10.0.0.1", "host")]
    [InlineData("ok.test", "ftp://10.0.0.1", "backends")]
    [InlineData("ok.test", "h2://10.0.0.1:50051", "backends")]
    [InlineData("ok.test", "h2c://user:pw@10.0.0.1:50051", "backends")]
    [InlineData("ok.test", "http://user:pw@10.0.0.1", "backends")]
    [InlineData("ok.test", "http://10.0.0.1/?q=1", "backends")]
    [InlineData("*.*.test", "http://10.0.0.1", "host")]
    public async Task Invalid_input_is_a_validation_problem_and_nothing_is_written(string host, string url, string field)
    {
        using var client = fixture.CreateClient();
        var response = await client.PutAsJsonAsync($"/v1/frontends/{Uri.EscapeDataString(host)}", new { app = "x", backends = new[] { url } }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _));

        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().KeyExistsAsync(fixture.Prefix + "frontend:ok.test"));
    }

    [Fact]
    public async Task Malformed_json_is_400_problem_not_500()
    {
        using var client = fixture.CreateClient();
        using var content = new StringContent("{ not json", Encoding.UTF8, "application/json");
        var response = await client.PutAsync("/v1/frontends/json.test", content, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key-0123456789abcdef0123456789abcdef")]
    public async Task Every_write_needs_a_valid_key(string? key)
    {
        using var client = fixture.CreateClient(key);
        var response = await client.PutAsJsonAsync("/v1/frontends/auth.test", new { app = "a", backends = new[] { "http://10.0.0.1" } }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/frontends/auth.test", Ct)).StatusCode);
    }

    [Fact]
    public async Task The_second_key_works_for_rotation_and_health_stays_open()
    {
        using var client = fixture.CreateClient(AdminApiFixture.SecondKey);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync("/v1/frontends/rotate.test", new { app = "r", backends = Array.Empty<string>() }, Ct)).StatusCode);
        using var anonymous = fixture.CreateClient(null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/openapi/v1.json", Ct)).StatusCode);
    }
}
