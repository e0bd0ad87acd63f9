using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>
/// The router registry and writes that wait, against real router processes on the admin API's
/// Redis: GET /v1/routers lists them with their change lag; a write with ?wait= is answered once
/// every router serves it (each serves it on its very next request, no polling), and a paused
/// router (SIGSTOP) is named as pending in a 202.
/// </summary>
public sealed class RoutersApiTests(AdminApiFixture shared)
{
    private static readonly string RouterDll = typeof(RoutersApiTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RouterDll").Value!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writes_with_wait_are_served_by_every_router_at_once_and_a_paused_router_is_named_pending()
    {
        await using var service = new AdminApiFixture();
        await service.InitializeAsync();
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        var routers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RouterProcess.StartAsync(RouterDll, service.Redis, service.Prefix, ct: Ct)));
        try
        {
            using var admin = service.CreateClient();
            using var traffic = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var listed = await Poll.UntilAsync(() => ListAsync(admin), l => l.Count == 3, TimeSpan.FromSeconds(30), "three routers in the registry");
            var ids = routers.Select(r => listed.Single(v => v.Addresses.Contains($"http://127.0.0.1:{r.Port}")).Id).ToArray();
            foreach (var view in listed)
            {
                Assert.NotNull(view.ChangeLagMs);
                Assert.False(string.IsNullOrEmpty(view.Version));
                Assert.False(string.IsNullOrEmpty(view.StoreMode));
                Assert.NotNull(view.Management);
            }

            // Each router has cached "not found" for the host before the write (Hipache's 400, "No Application Configured").
            foreach (var router in routers)
            {
                Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(traffic, router, "wait.test")).Status);
            }

            var created = await admin.PutAsJsonAsync("/v1/frontends/wait.test?wait=10s", new { app = "w", backends = new[] { a.Url } }, Ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal(ids.Order(StringComparer.Ordinal), Header(created, "Hipache-Routers-Confirmed"));
            foreach (var router in routers)
            {
                Assert.Equal((HttpStatusCode.OK, "backend=a"), await GetAsync(traffic, router, "wait.test"));
            }

            // A cached route replaced: served by each router on its next request.
            var replaced = await admin.PutAsJsonAsync("/v1/frontends/wait.test?wait=10s", new { app = "w", backends = new[] { b.Url } }, Ct);
            Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
            Assert.Equal(3, Header(replaced, "Hipache-Routers-Confirmed").Length);
            foreach (var router in routers)
            {
                Assert.Equal((HttpStatusCode.OK, "backend=b"), await GetAsync(traffic, router, "wait.test"));
            }

            await routers[2].SignalAsync("STOP", Ct);
            try
            {
                var pending = await admin.PostAsJsonAsync("/v1/frontends/wait.test/backends?wait=1s", new { url = a.Url }, Ct);
                Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
                var body = await pending.Content.ReadFromJsonAsync<JsonElement>(Ct);
                Assert.Equal([ids[2]], body.GetProperty("pending").EnumerateArray().Select(e => e.GetString()!).ToArray());
                Assert.Equal(ids[..2].Order(StringComparer.Ordinal), body.GetProperty("confirmed").EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToArray());
                Assert.InRange(body.GetProperty("waitedMs").GetDouble(), 900, 10_000);
                Assert.Equal([ids[2]], Header(pending, "Hipache-Routers-Pending"));

                // Stored all the same.
                var frontend = await admin.GetFromJsonAsync<JsonElement>("/v1/frontends/wait.test", Ct);
                Assert.Equal(2, frontend.GetProperty("backends").GetArrayLength());
            }
            finally
            {
                await routers[2].SignalAsync("CONT", Ct);
            }
        }
        finally
        {
            foreach (var router in routers)
            {
                await router.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_router_that_stops_cleanly_leaves_the_registry_at_once()
    {
        await using var service = new AdminApiFixture();
        await service.InitializeAsync();
        using var admin = service.CreateClient();
        await using (var router = await RouterProcess.StartAsync(RouterDll, service.Redis, service.Prefix, ct: Ct))
        {
            await Poll.UntilAsync(() => ListAsync(admin), l => l.Count == 1, TimeSpan.FromSeconds(30), "the router in the registry");
            await router.SignalTermAsync(Ct);
            Assert.True(await router.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct), router.Output);
        }

        // Withdrawn on SIGTERM: gone well before its 5 s TTL would drop it.
        Assert.Empty(await ListAsync(admin));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("10")]
    [InlineData("0ms")]
    [InlineData("-1s")]
    [InlineData("31s")]
    [InlineData("1e3ms")]
    public async Task A_bad_wait_is_refused_before_anything_is_written(string wait)
    {
        using var admin = shared.CreateClient();
        var host = $"bad-wait-{Guid.NewGuid():N}.test";
        var response = await admin.PutAsJsonAsync($"/v1/frontends/{host}?wait={Uri.EscapeDataString(wait)}", new { app = "w", backends = new[] { "http://127.0.0.1:9" } }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(problem.GetProperty("errors").TryGetProperty("wait", out _));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/frontends/{host}", Ct)).StatusCode);
    }

    [Fact]
    public async Task With_no_live_router_a_write_that_waits_is_answered_at_once()
    {
        await using var service = new AdminApiFixture();
        await service.InitializeAsync();
        using var admin = service.CreateClient();
        var response = await admin.PutAsJsonAsync("/v1/frontends/nobody.test?wait=5s", new { app = "w", backends = new[] { "http://127.0.0.1:9" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Empty(Header(response, "Hipache-Routers-Confirmed"));
        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>("/v1/routers", Ct)).GetProperty("routers").EnumerateArray());
    }

    [Fact]
    public async Task Listing_routers_needs_a_key()
    {
        using var anonymous = shared.CreateClient(key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/routers", Ct)).StatusCode);
    }

    private static async Task<IReadOnlyList<Listed>> ListAsync(HttpClient admin)
    {
        var body = await admin.GetFromJsonAsync<JsonElement>("/v1/routers", Ct);
        return [.. body.GetProperty("routers").EnumerateArray().Select(r => new Listed(
            r.GetProperty("id").GetString()!,
            [.. r.GetProperty("addresses").EnumerateArray().Select(x => x.GetString()!)],
            r.GetProperty("version").GetString(),
            r.GetProperty("storeMode").GetString(),
            r.GetProperty("management").GetString(),
            r.GetProperty("changeLagMs").ValueKind == JsonValueKind.Number ? r.GetProperty("changeLagMs").GetDouble() : null))];
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, RouterProcess router, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{router.Port}/"));
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        return (response.StatusCode, response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(Ct) : string.Empty);
    }

    private static string[] Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values)
            ? [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))]
            : [];

    private sealed record Listed(string Id, string[] Addresses, string? Version, string? StoreMode, string? Management, double? ChangeLagMs);
}
