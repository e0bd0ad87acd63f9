using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

public sealed class ETagTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewHost(string label) => $"{label}.e{Guid.NewGuid():N}.test";

    [Fact]
    public async Task The_tag_a_write_returns_is_the_tag_a_read_computes()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("same");
        var put = await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = new[] { "http://10.3.0.1:8080", "http://10.3.0.2:8080/p" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        var get = await client.GetAsync($"/v1/frontends/{host}", Ct);
        Assert.NotNull(put.Headers.ETag);
        Assert.False(put.Headers.ETag.IsWeak);
        Assert.Equal(put.Headers.ETag, get.Headers.ETag);
    }

    [Fact]
    public async Task If_match_with_the_current_tag_writes_and_a_stale_one_is_412()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("cas");
        var first = await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = new[] { "http://10.3.1.1:8080" } }, Ct);
        var v1 = first.Headers.ETag!;

        var second = await PutIfMatchAsync(client, host, v1.ToString(), "http://10.3.1.2:8080");
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var v2 = second.Headers.ETag!;
        Assert.NotEqual(v1, v2);

        var stale = await PutIfMatchAsync(client, host, v1.ToString(), "http://10.3.1.3:8080");
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);
        Assert.Equal("application/problem+json", stale.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["tags", "http://10.3.1.2:8080"], await ListAsync(host));

        // A list of tags matches when any of them is current; * matches any existing frontend.
        Assert.Equal(HttpStatusCode.OK, (await PutIfMatchAsync(client, host, $"{v1}, {v2}", "http://10.3.1.4:8080")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutIfMatchAsync(client, host, "*", "http://10.3.1.5:8080")).StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await PutIfMatchAsync(client, NewHost("absent"), "*", "http://10.3.1.6:8080")).StatusCode);
    }

    [Fact]
    public async Task The_tag_follows_the_list_content_even_when_redis_cli_changes_it()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("cli");
        var put = await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = new[] { "http://10.3.2.1:8080" } }, Ct);
        var before = put.Headers.ETag!;

        await using var redis = await fixture.Redis.ConnectAsync();
        var db = redis.GetDatabase();
        await db.ListRightPushAsync(fixture.Prefix + "frontend:" + host, "http://10.3.2.2:8080");
        var changed = (await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag!;
        Assert.NotEqual(before, changed);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await PutIfMatchAsync(client, host, before.ToString(), "http://10.3.2.3:8080")).StatusCode);

        // Undoing the change brings the old tag back: it names content, not a revision counter.
        await db.ListRightPopAsync(fixture.Prefix + "frontend:" + host);
        Assert.Equal(before, (await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag);
    }

    [Fact]
    public async Task Delete_honours_if_match()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("del");
        var tag = (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = new[] { "http://10.3.3.1:8080" } }, Ct)).Headers.ETag!;
        await client.PostAsJsonAsync($"/v1/frontends/{host}/backends", new { url = "http://10.3.3.2:8080" }, Ct);

        using (var stale = new HttpRequestMessage(HttpMethod.Delete, $"/v1/frontends/{host}"))
        {
            stale.Headers.IfMatch.Add(tag);
            var response = await client.SendAsync(stale, Ct);
            Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        var current = (await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag!;
        using var fresh = new HttpRequestMessage(HttpMethod.Delete, $"/v1/frontends/{host}");
        fresh.Headers.IfMatch.Add(current);
        Assert.Equal(HttpStatusCode.NoContent, (await client.SendAsync(fresh, Ct)).StatusCode);
        Assert.Empty(await ListAsync(host));
    }

    [Fact]
    public async Task Backend_adds_and_removes_return_the_new_tag_and_honour_if_match()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("backends");
        var v1 = (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = new[] { "http://10.3.6.1:8080" } }, Ct)).Headers.ETag!;

        using (var add = new HttpRequestMessage(HttpMethod.Post, $"/v1/frontends/{host}/backends") { Content = JsonContent.Create(new { url = "http://10.3.6.2:8080" }) })
        {
            add.Headers.IfMatch.Add(v1);
            var added = await client.SendAsync(add, Ct);
            Assert.Equal(HttpStatusCode.OK, added.StatusCode);
            Assert.Equal((await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag, added.Headers.ETag);
        }

        using (var stale = new HttpRequestMessage(HttpMethod.Post, $"/v1/frontends/{host}/backends") { Content = JsonContent.Create(new { url = "http://10.3.6.3:8080" }) })
        {
            stale.Headers.IfMatch.Add(v1);
            Assert.Equal(HttpStatusCode.PreconditionFailed, (await client.SendAsync(stale, Ct)).StatusCode);
        }

        using (var staleRemove = new HttpRequestMessage(HttpMethod.Delete, $"/v1/frontends/{host}/backends?url=http://10.3.6.1:8080"))
        {
            staleRemove.Headers.IfMatch.Add(v1);
            Assert.Equal(HttpStatusCode.PreconditionFailed, (await client.SendAsync(staleRemove, Ct)).StatusCode);
        }

        Assert.Equal(["tags", "http://10.3.6.1:8080", "http://10.3.6.2:8080"], await ListAsync(host));
        var removed = await client.DeleteAsync($"/v1/frontends/{host}/backends?url=http://10.3.6.1:8080", Ct);
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.Equal((await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag, removed.Headers.ETag);
    }

    [Fact]
    public async Task Weak_tags_never_match_and_a_malformed_header_is_400()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("weak");
        var tag = (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = Array.Empty<string>() }, Ct)).Headers.ETag!;
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await PutIfMatchAsync(client, host, "W/" + tag.Tag, "http://10.3.4.1:8080")).StatusCode);

        var malformed = await PutIfMatchAsync(client, host, "no-quotes", "http://10.3.4.1:8080");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        using var problem = JsonDocument.Parse(await malformed.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("If-Match", out _));
        Assert.Equal(["tags"], await ListAsync(host));
    }

    [Fact]
    public async Task If_none_match_with_the_current_tag_is_304()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("cache");
        var tag = (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = Array.Empty<string>() }, Ct)).Headers.ETag!;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/frontends/{host}");
        request.Headers.IfNoneMatch.Add(tag);
        var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Equal(tag, response.Headers.ETag);
    }

    [Fact]
    public async Task Of_parallel_writers_holding_the_same_tag_exactly_one_wins()
    {
        using var client = fixture.CreateClient();
        var host = NewHost("race");
        var tag = (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "tags", backends = Array.Empty<string>() }, Ct)).Headers.ETag!.ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => PutIfMatchAsync(client, host, tag, $"http://10.3.5.{i}:8080"), Ct)));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(15, responses.Count(r => r.StatusCode == HttpStatusCode.PreconditionFailed));
        var winner = responses.Single(r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(winner.Headers.ETag, (await client.GetAsync($"/v1/frontends/{host}", Ct)).Headers.ETag);
    }

    private static async Task<HttpResponseMessage> PutIfMatchAsync(HttpClient client, string host, string ifMatch, string backend)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/frontends/{host}")
        {
            Content = JsonContent.Create(new { app = "tags", backends = new[] { backend } }),
        };
        request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        return await client.SendAsync(request, Ct);
    }

    private async Task<string[]> ListAsync(string host)
    {
        await using var redis = await fixture.Redis.ConnectAsync();
        return [.. (await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString())];
    }
}
