using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Hipache.Aspire.TestSupport;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>
/// The admin API on a real three-primary Redis Cluster: listing walks SCAN over every primary,
/// per-frontend writes stay atomic (If-Match), apps and their index work across slots, a reindex
/// finds hand-written frontends on every node, and a write with ?wait= is confirmed by a router.
/// </summary>
[Trait("Category", "Cluster")]
public sealed class ClusterAdminTests
{
    private static readonly string RouterDll = typeof(ClusterAdminTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RouterDll").Value!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Listing_writes_apps_reindex_and_waiting_work_on_a_cluster()
    {
        await using var cluster = await TestClusterRedis.StartAsync();
        await using var service = new AdminApiFixture { ConnectionString = cluster.ConnectionString };
        await service.InitializeAsync();
        using var admin = service.CreateClient();

        // Random names, so that the keys spread over the three primaries (names that differ in a digit hash to nearby slots).
        var hosts = Enumerable.Range(0, 40).Select(_ => $"h{Guid.NewGuid():N}.cluster.test").ToArray();
        await using (var probe = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString))
        {
            var nodes = new HashSet<int>();
            foreach (var host in hosts)
            {
                var slot = (long)await probe.GetDatabase().ExecuteAsync("CLUSTER", "KEYSLOT", $"{service.Prefix}frontend:{host}");
                nodes.Add(slot < 5461 ? 0 : slot < 10923 ? 1 : 2);
            }

            Assert.Equal(3, nodes.Count);
        }

        foreach (var host in hosts)
        {
            Assert.Equal(HttpStatusCode.Created, (await admin.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "c", backends = new[] { "http://10.0.0.1:8080" } }, Ct)).StatusCode);
        }

        // Pages of 7 over three nodes: every host exactly once.
        var listed = new List<string>();
        string? cursor = null;
        for (var pages = 0; pages < 100; pages++)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>($"/v1/frontends?match=*.cluster.test&limit=7{(cursor is null ? string.Empty : "&cursor=" + cursor)}", Ct);
            listed.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("host").GetString()!));
            cursor = page.TryGetProperty("nextCursor", out var next) ? next.GetString() : null;
            if (cursor is null)
            {
                break;
            }
        }

        Assert.Equal(hosts.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        // Optimistic concurrency, one script on the frontend's own key.
        var read = await admin.GetAsync($"/v1/frontends/{hosts[1]}", Ct);
        var etag = read.Headers.ETag!.Tag;
        using (var first = new HttpRequestMessage(HttpMethod.Put, $"/v1/frontends/{hosts[1]}") { Content = JsonContent.Create(new { app = "c", backends = new[] { "http://10.0.0.2:8080" } }) })
        {
            first.Headers.TryAddWithoutValidation("If-Match", etag);
            Assert.Equal(HttpStatusCode.OK, (await admin.SendAsync(first, Ct)).StatusCode);
        }

        using (var second = new HttpRequestMessage(HttpMethod.Put, $"/v1/frontends/{hosts[1]}") { Content = JsonContent.Create(new { app = "c", backends = new[] { "http://10.0.0.3:8080" } }) })
        {
            second.Headers.TryAddWithoutValidation("If-Match", etag);
            Assert.Equal(HttpStatusCode.PreconditionFailed, (await admin.SendAsync(second, Ct)).StatusCode);
        }

        // An app spans hosts on several slots.
        var shop = new[] { "shop.test", "www.shop.test", "api.shop.test", "m.shop.test" };
        Assert.Equal(HttpStatusCode.Created, (await admin.PutAsJsonAsync("/v1/apps/shop", new { hosts = shop, backends = new[] { "http://10.0.0.9:80" } }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync("/v1/apps/shop/backends", new { url = "http://10.0.0.10:80" }, Ct)).StatusCode);
        var app = await admin.GetFromJsonAsync<JsonElement>("/v1/apps/shop", Ct);
        Assert.Equal(shop.Order(StringComparer.Ordinal), app.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(2, app.GetProperty("backends").GetArrayLength());

        // Frontends written by hand on every node, found by a reindex (one SCAN walk over all primaries).
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString))
        {
            var db = redis.GetDatabase();
            for (var i = 0; i < 30; i++)
            {
                await db.ListRightPushAsync($"{service.Prefix}frontend:hand{Guid.NewGuid():N}.test", ["hand", "http://10.0.0.20:80"]);
            }
        }

        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync("/v1/apps/_reindex", null, Ct)).StatusCode);
        var hand = await admin.GetFromJsonAsync<JsonElement>("/v1/apps/hand", Ct);
        Assert.Equal(30, hand.GetProperty("hosts").GetArrayLength());

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/v1/apps/shop", Ct)).StatusCode);
        foreach (var host in shop)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/frontends/{host}", Ct)).StatusCode);
        }

        // A router on the cluster answers the fence of a write that waits.
        await using var router = await RouterProcess.StartAsync(RouterDll, cluster.ConnectionString, service.Prefix, ct: Ct);
        await Poll.UntilAsync(async () => (await admin.GetFromJsonAsync<JsonElement>("/v1/routers", Ct)).GetProperty("routers").GetArrayLength(), n => n == 1, TimeSpan.FromSeconds(30), "the router in the registry");
        var waited = await admin.PutAsJsonAsync($"/v1/frontends/{hosts[2]}?wait=10s", new { app = "c", backends = new[] { "http://10.0.0.4:8080" } }, Ct);
        Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
        Assert.Single(waited.Headers.GetValues("Hipache-Routers-Confirmed").Single().Split(", "));
    }
}
