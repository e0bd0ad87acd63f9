using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hipache.Aspire.TestSupport;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin.Tests;

public sealed class AppsApiTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewApp(string label) => $"{label}-{Guid.NewGuid():N}"[..24];

    private static string NewHost(string label) => $"{label}.a{Guid.NewGuid():N}.test";

    [Fact]
    public async Task Put_writes_every_host_with_the_app_as_identifier_and_indexes_outside_the_lists()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("web");
        string[] hosts = [NewHost("www"), NewHost("api")];
        var put = await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts = hosts.Select(h => h.ToUpperInvariant()), backends = new[] { "http://10.4.0.1:8080", "http://10.4.0.2:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/v1/apps/{app}", put.Headers.Location?.ToString());

        foreach (var host in hosts)
        {
            Assert.Equal([app, "http://10.4.0.1:8080", "http://10.4.0.2:8080"], await ListAsync(host));
        }

        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        Assert.Equal(hosts.Order(StringComparer.Ordinal), (await db.SetMembersAsync(fixture.Prefix + "hipache-aspire:app:" + app)).Select(v => v.ToString()).Order(StringComparer.Ordinal));
        Assert.NotNull(await db.SortedSetScoreAsync(fixture.Prefix + "hipache-aspire:apps", app));

        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{app}", Ct);
        Assert.Equal(app, view.GetProperty("app").GetString());
        Assert.Equal(hosts.Order(StringComparer.Ordinal), view.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal(["http://10.4.0.1:8080", "http://10.4.0.2:8080"], view.GetProperty("backends").EnumerateArray().Select(b => b.GetString()));

        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends = new[] { "http://10.4.0.3:8080" } }, Ct)).StatusCode);
        Assert.Equal([app, "http://10.4.0.3:8080"], await ListAsync(hosts[1]));
    }

    [Fact]
    public async Task Hosts_dropped_from_the_app_are_removed()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("drop");
        string[] hosts = [NewHost("a"), NewHost("b"), NewHost("c")];
        await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts = hosts[..2], backends = new[] { "http://10.4.1.1:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.OK, (await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts = hosts[1..], backends = new[] { "http://10.4.1.1:8080" } }, Ct)).StatusCode);

        Assert.Empty(await ListAsync(hosts[0]));
        Assert.Equal([app, "http://10.4.1.1:8080"], await ListAsync(hosts[2]));
        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{app}", Ct);
        Assert.Equal(hosts[1..].Order(StringComparer.Ordinal), view.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
    }

    [Fact]
    public async Task Hosts_of_another_app_are_refused_with_409_unless_takeover()
    {
        using var client = fixture.CreateClient();
        var (owner, claimant) = (NewApp("owner"), NewApp("claimant"));
        var shared = NewHost("shared");
        var fresh = NewHost("fresh");
        await client.PutAsJsonAsync($"/v1/apps/{owner}", new { hosts = new[] { shared }, backends = new[] { "http://10.4.2.1:8080" } }, Ct);

        var refused = await client.PutAsJsonAsync($"/v1/apps/{claimant}", new { hosts = new[] { fresh, shared }, backends = new[] { "http://10.4.2.2:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        using (var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal(owner, problem.RootElement.GetProperty("owners").GetProperty(shared).GetString());
        }

        // Refused before anything was written: not even the host nobody owned.
        Assert.Empty(await ListAsync(fresh));
        Assert.Equal([owner, "http://10.4.2.1:8080"], await ListAsync(shared));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/apps/{claimant}", Ct)).StatusCode);

        var taken = await client.PutAsJsonAsync($"/v1/apps/{claimant}?takeover=true", new { hosts = new[] { fresh, shared }, backends = new[] { "http://10.4.2.2:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, taken.StatusCode);
        Assert.Equal([claimant, "http://10.4.2.2:8080"], await ListAsync(shared));
        var former = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{owner}", Ct);
        Assert.Equal(0, former.GetProperty("hosts").GetArrayLength());
        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().SetContainsAsync(fixture.Prefix + "hipache-aspire:app:" + owner, shared));
    }

    [Fact]
    public async Task Frontends_written_by_hipache_tools_count_as_another_owner()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("legacy");
        var host = NewHost("legacy");
        await using var redis = await fixture.Redis.ConnectAsync();
        await redis.GetDatabase().ListRightPushAsync(fixture.Prefix + "frontend:" + host, ["mywebsite", "http://10.4.3.1:80"]);
        Assert.Equal(HttpStatusCode.Conflict, (await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts = new[] { host }, backends = Array.Empty<string>() }, Ct)).StatusCode);
        Assert.Equal(["mywebsite", "http://10.4.3.1:80"], await ListAsync(host));
    }

    [Fact]
    public async Task Reading_an_app_repairs_the_index_after_redis_cli_changed_its_frontends()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("repair");
        string[] hosts = [NewHost("kept"), NewHost("deleted"), NewHost("renamed")];
        await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends = new[] { "http://10.4.4.1:8080" } }, Ct);

        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        await db.KeyDeleteAsync(fixture.Prefix + "frontend:" + hosts[1]);
        await db.ListSetByIndexAsync(fixture.Prefix + "frontend:" + hosts[2], 0, "someone-else");

        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{app}", Ct);
        Assert.Equal([hosts[0]], view.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal([hosts[0]], (await db.SetMembersAsync(fixture.Prefix + "hipache-aspire:app:" + app)).Select(v => v.ToString()));

        // Deleting the app leaves the frontend that is no longer its alone.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/apps/{app}", Ct)).StatusCode);
        Assert.Empty(await ListAsync(hosts[0]));
        Assert.Equal(["someone-else", "http://10.4.4.1:8080"], await ListAsync(hosts[2]));
    }

    [Fact]
    public async Task Delete_removes_every_frontend_and_the_app()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("gone");
        string[] hosts = [NewHost("x"), NewHost("y")];
        await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends = new[] { "http://10.4.5.1:8080" } }, Ct);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/apps/{app}", Ct)).StatusCode);
        Assert.Empty(await ListAsync(hosts[0]));
        Assert.Empty(await ListAsync(hosts[1]));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/apps/{app}", Ct)).StatusCode);
        var again = await client.DeleteAsync($"/v1/apps/{app}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Backends_are_added_to_and_removed_from_every_host()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("pool");
        string[] hosts = [NewHost("p1"), NewHost("p2")];
        await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends = new[] { "http://10.4.6.1:8080" } }, Ct);

        var added = await client.PostAsJsonAsync($"/v1/apps/{app}/backends", new { url = "http://10.4.6.2:8080/" }, Ct);
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/v1/apps/{app}/backends", new { url = "http://10.4.6.2:8080" }, Ct)).StatusCode);
        foreach (var host in hosts)
        {
            Assert.Equal([app, "http://10.4.6.1:8080", "http://10.4.6.2:8080"], await ListAsync(host));
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/apps/{app}/backends?url=http://10.4.6.1:8080", Ct)).StatusCode);
        foreach (var host in hosts)
        {
            Assert.Equal([app, "http://10.4.6.2:8080"], await ListAsync(host));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/v1/apps/{app}/backends?url=http://10.4.6.1:8080", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsJsonAsync($"/v1/apps/{NewApp("nobody")}/backends", new { url = "http://10.4.6.3:8080" }, Ct)).StatusCode);
    }

    [Fact]
    public async Task Every_host_written_is_published_on_the_change_channel()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("publish");
        string[] hosts = [NewHost("m1"), NewHost("m2"), NewHost("m3")];
        await using var redis = await fixture.Redis.ConnectAsync();
        var received = new System.Collections.Concurrent.ConcurrentBag<string>();
        await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(fixture.Prefix + "hipache-aspire:changes"), (_, message) => received.Add(message.ToString()));

        await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends = new[] { "http://10.4.7.1:8080" } }, Ct);
        await Poll.UntilAsync(() => Task.FromResult(hosts.All(received.Contains)), done => done, what: "a change message per host");

        await client.DeleteAsync($"/v1/apps/{app}/backends?url=http://10.4.7.1:8080", Ct);
        await Poll.UntilAsync(() => Task.FromResult(hosts.All(h => received.Count(m => m == h) >= 2)), done => done, what: "a change message per host after removing a backend");
    }

    [Fact]
    public async Task A_frontend_written_directly_joins_its_app()
    {
        using var client = fixture.CreateClient();
        var (app, other) = (NewApp("direct"), NewApp("moved"));
        var host = NewHost("direct");
        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app, backends = new[] { "http://10.4.8.1:8080" } }, Ct);
        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{app}", Ct);
        Assert.Equal([host], view.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));

        await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = other, backends = new[] { "http://10.4.8.1:8080" } }, Ct);
        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().SetContainsAsync(fixture.Prefix + "hipache-aspire:app:" + app, host));
        Assert.True(await redis.GetDatabase().SetContainsAsync(fixture.Prefix + "hipache-aspire:app:" + other, host));
    }

    [Fact]
    public async Task Reindex_finds_apps_written_with_redis_cli_and_drops_false_entries()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("cli");
        string[] hosts = [NewHost("c1"), NewHost("c2")];
        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        foreach (var host in hosts)
        {
            await db.ListRightPushAsync(fixture.Prefix + "frontend:" + host, [app, "http://10.4.10.1:8080"]);
        }

        // A false entry: indexed for the app, but the list says otherwise.
        var foreign = NewHost("foreign");
        await db.ListRightPushAsync(fixture.Prefix + "frontend:" + foreign, ["not-" + app]);
        await db.SetAddAsync(fixture.Prefix + "hipache-aspire:app:" + app, foreign);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/apps/{app}", Ct)).StatusCode);

        var rebuilt = await client.PostAsync("/v1/apps/_reindex", null, Ct);
        Assert.Equal(HttpStatusCode.OK, rebuilt.StatusCode);
        using (var summary = JsonDocument.Parse(await rebuilt.Content.ReadAsStringAsync(Ct)))
        {
            Assert.True(summary.RootElement.GetProperty("frontendsScanned").GetInt32() >= 3);
        }

        var view = await client.GetFromJsonAsync<JsonElement>($"/v1/apps/{app}", Ct);
        Assert.Equal(hosts.Order(StringComparer.Ordinal), view.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        Assert.False(await db.SetContainsAsync(fixture.Prefix + "hipache-aspire:app:" + app, foreign));
    }

    [Fact]
    public async Task Apps_page_in_name_order_with_a_cursor()
    {
        using var client = fixture.CreateClient();
        var stem = NewApp("list")[..16];
        var names = Enumerable.Range(0, 5).Select(i => $"{stem}-{i}").ToArray();
        foreach (var name in names)
        {
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync($"/v1/apps/{name}", new { hosts = new[] { NewHost("l") }, backends = Array.Empty<string>() }, Ct)).StatusCode);
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>("/v1/apps?limit=2" + (cursor is null ? string.Empty : $"&cursor={cursor}"), Ct);
            Assert.InRange(page.GetProperty("items").GetArrayLength(), 0, 2);
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("app").GetString()!));
            cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);

        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal(seen.Distinct(), seen);
        Assert.Equal(names, seen.Where(n => n.StartsWith(stem, StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("bad app!", "www.ok.test", "http://10.4.9.1", "app")]
    [InlineData("ok", "bad_host!", "http://10.4.9.1", "hosts")]
    [InlineData("ok", "www.ok.test", "ftp://10.4.9.1", "backends")]
    public async Task Invalid_app_input_is_a_validation_problem(string app, string host, string url, string field)
    {
        using var client = fixture.CreateClient();
        var response = await client.PutAsJsonAsync($"/v1/apps/{Uri.EscapeDataString(app)}", new { hosts = new[] { host }, backends = new[] { url } }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _));
        Assert.Empty(await ListAsync("www.ok.test"));
    }

    [Fact]
    public async Task More_than_1000_hosts_or_backends_is_a_validation_problem()
    {
        using var client = fixture.CreateClient();
        var app = NewApp("huge");
        var hosts = Enumerable.Range(0, 1001).Select(i => $"h{i}.huge.test").ToArray();
        var backends = Enumerable.Range(0, 1001).Select(i => $"http://10.7.{i / 250}.{i % 250}:8080").ToArray();
        var response = await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts, backends }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("hosts", out _));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("backends", out _));
        Assert.Empty(await ListAsync(hosts[0]));
    }

    [Fact]
    public async Task Apps_need_a_key_and_bad_cursors_are_400()
    {
        using var anonymous = fixture.CreateClient(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/apps", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PutAsJsonAsync("/v1/apps/x", new { hosts = Array.Empty<string>() }, Ct)).StatusCode);
        using var client = fixture.CreateClient();
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/v1/apps?cursor=!!", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/v1/apps?limit=5000", Ct)).StatusCode);
    }

    private async Task<string[]> ListAsync(string host)
    {
        await using var redis = await fixture.Redis.ConnectAsync();
        return [.. (await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString())];
    }
}
