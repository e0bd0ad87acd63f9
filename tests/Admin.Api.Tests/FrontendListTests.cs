using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

public sealed class FrontendListTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Pages_walk_every_matching_frontend_once_within_the_limit()
    {
        using var client = fixture.CreateClient();
        var suffix = $"l{Guid.NewGuid():N}"[..12] + ".test";
        var expected = Enumerable.Range(0, 23).Select(i => $"h{i}.{suffix}").ToHashSet();
        foreach (var host in expected)
        {
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "lister", backends = new[] { "http://10.2.0.1:8080" } }, Ct)).StatusCode);
        }

        // Not matched: another suffix.
        await client.PutAsJsonAsync($"/v1/frontends/other-{suffix}x", new { app = "lister", backends = Array.Empty<string>() }, Ct);

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"/v1/frontends?match={Uri.EscapeDataString("*." + suffix)}&limit=7" + (cursor is null ? string.Empty : $"&cursor={cursor}");
            using var page = JsonDocument.Parse(await client.GetStringAsync(url, Ct));
            var items = page.RootElement.GetProperty("items");
            Assert.InRange(items.GetArrayLength(), 0, 7);
            foreach (var item in items.EnumerateArray())
            {
                seen.Add(item.GetProperty("host").GetString()!);
                Assert.Equal("lister", item.GetProperty("app").GetString());
                Assert.Equal("http://10.2.0.1:8080", item.GetProperty("backends")[0].GetString());
            }

            cursor = page.RootElement.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            Assert.True(++pages < 100, "the walk did not end");
        }
        while (cursor is not null);

        // SCAN may repeat a key when the table is resized mid-walk (other tests write meanwhile), never skip one.
        Assert.Equal(expected, seen.ToHashSet());
        Assert.True(pages >= 4, $"23 frontends in pages of 7 took {pages} page(s)");
    }

    [Fact]
    public async Task A_split_batch_resumes_where_it_stopped()
    {
        using var client = fixture.CreateClient();
        var suffix = $"s{Guid.NewGuid():N}"[..12] + ".test";
        var expected = Enumerable.Range(0, 5).Select(i => $"h{i}.{suffix}").ToHashSet();
        foreach (var host in expected)
        {
            await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "split", backends = Array.Empty<string>() }, Ct);
        }

        // Pages of one: each SCAN batch holds several keys, so every page but the last is a split batch.
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var url = $"/v1/frontends?match={Uri.EscapeDataString("*." + suffix)}&limit=1" + (cursor is null ? string.Empty : $"&cursor={cursor}");
            var page = await client.GetFromJsonAsync<JsonElement>(url, Ct);
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("host").GetString()!));
            cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);

        Assert.Equal(expected, seen.ToHashSet());
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("cursor=not-a-cursor!", "cursor")]
    [InlineData("cursor=Zm9v", "cursor")]
    [InlineData("match=a%01b", "match")]
    [InlineData("match=", "match")]
    public async Task Bad_paging_parameters_are_validation_problems(string query, string field)
    {
        using var client = fixture.CreateClient();
        var response = await client.GetAsync($"/v1/frontends?{query}", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task A_forged_cursor_with_a_huge_count_is_bounded_not_an_error()
    {
        using var client = fixture.CreateClient();
        var forged = System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes("0|2000000000|zzz"));
        var response = await client.GetAsync($"/v1/frontends?cursor={forged}&limit=5", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.InRange(page.RootElement.GetProperty("items").GetArrayLength(), 0, 5);
    }

    [Fact]
    public async Task Listing_needs_a_key()
    {
        using var client = fixture.CreateClient(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/frontends", Ct)).StatusCode);
    }
}
