using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>Bodies the admin API must refuse before anything is written: ill-formed UTF-8 anywhere in the JSON, an app without hosts.</summary>
public sealed class RequestBodyTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string, string> WritesWithABody => new()
    {
        // A field the endpoint binds, one it ignores (STJ never decodes it), and a backend URL.
        { "PUT", "/v1/frontends/{host}", "{\"app\":\"\xff\xfe\",\"backends\":[\"http://10.9.0.1:8080\"]}" },
        { "PUT", "/v1/frontends/{host}", "{\"app\":\"ok\",\"ignored\":\"\xc3\x28\",\"backends\":[\"http://10.9.0.1:8080\"]}" },
        { "PUT", "/v1/apps/app-{tag}", "{\"app\":\"\xff\xfe\",\"hosts\":[\"{host}\"],\"backends\":[\"http://10.9.0.1:8080\"]}" },
        { "PUT", "/v1/apps/app-{tag}", "{\"hosts\":[\"{host}\"],\"backends\":[\"http://10.9.0.1:8080/\xed\xa0\x80\"]}" },
        { "POST", "/v1/frontends/{host}/backends", "{\"url\":\"http://10.9.0.2:8080\",\"note\":\"\xe2\x82\"}" },
    };

    [Theory]
    [MemberData(nameof(WritesWithABody))]
    public async Task A_body_that_is_not_valid_utf8_is_400_problem_and_writes_nothing(string method, string path, string json)
    {
        using var client = fixture.CreateClient();
        var tag = Guid.NewGuid().ToString("N")[..12];
        var host = $"utf8.u{tag}.test";
        if (method == "POST")
        {
            // Adding a backend needs the frontend to exist: a valid write first.
            var created = await client.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "utf8", backends = new[] { "http://10.9.0.1:8080" } }, Ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        // The JSON text above is written with \x escapes for single bytes: Latin-1 maps each to that byte.
        var bytes = Encoding.Latin1.GetBytes(json.Replace("{host}", host, StringComparison.Ordinal).Replace("{tag}", tag, StringComparison.Ordinal));
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(new HttpMethod(method), path.Replace("{host}", host, StringComparison.Ordinal).Replace("{tag}", tag, StringComparison.Ordinal)) { Content = content };
        var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("UTF-8", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        await using var redis = await fixture.Redis.ConnectAsync();
        var list = (await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString()).ToArray();
        Assert.Equal(method == "POST" ? ["utf8", "http://10.9.0.1:8080"] : [], list);
    }

    [Fact]
    public async Task Valid_utf8_beyond_ascii_is_accepted()
    {
        using var client = fixture.CreateClient();
        var host = $"utf8ok.u{Guid.NewGuid():N}.test";
        using var content = new StringContent("{\"app\":\"cafe\",\"note\":\"caf\u00e9 \u6f22\u5b57 \ud83d\ude80\",\"backends\":[\"http://10.9.0.1:8080\"]}", Encoding.UTF8, "application/json");
        var response = await client.PutAsync($"/v1/frontends/{host}", content, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Theory]
    [InlineData("{\"backends\":[\"http://10.9.1.1:8080\"]}", "Required")]
    [InlineData("{\"hosts\":[],\"backends\":[\"http://10.9.1.1:8080\"]}", "DELETE")]
    public async Task An_app_put_without_hosts_is_400_naming_the_field_and_an_existing_app_keeps_its_hosts(string json, string hint)
    {
        using var client = fixture.CreateClient();
        var app = $"nohosts-{Guid.NewGuid():N}"[..24];
        var host = $"keep.n{Guid.NewGuid():N}.test";
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsJsonAsync($"/v1/apps/{app}", new { hosts = new[] { host }, backends = new[] { "http://10.9.1.1:8080" } }, Ct)).StatusCode);

        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await client.PutAsync($"/v1/apps/{app}", content, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var messages = problem.GetProperty("errors").GetProperty("hosts").EnumerateArray().Select(m => m.GetString()).ToArray();
        Assert.Contains(messages, m => m!.Contains(hint, StringComparison.Ordinal));

        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.Equal([app, "http://10.9.1.1:8080"], (await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString()));
    }
}
