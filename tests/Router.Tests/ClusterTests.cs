using System.Net;
using System.Text.Json;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The routing table on a real three-primary Redis Cluster, Hipache's keys unchanged: lookups
/// whose candidate keys live on other nodes, change messages, keyspace notifications from every
/// primary (plain RPUSH and SADD, as redis-cli makes them) and dead sets.
/// </summary>
[Trait("Category", "Cluster")]
[Collection(Topologies.Name)]
public sealed class ClusterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_router_serves_a_cluster_and_hears_changes_made_on_every_primary()
    {
        await using var cluster = await TestClusterRedis.StartAsync();
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        var prefix = $"c{Guid.NewGuid():N}:";
        await using var store = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = cluster.ConnectionString, KeyPrefix = prefix });
        var writer = new RouteWriter(store);
        await writer.ReplaceFrontendAsync("*.example.test", "wild", [a.Url], Ct);
        await writer.ReplaceFrontendAsync("www.example.test", "www", [b.Url], Ct);

        // A long poll-mode lifetime: a change served quickly can only have come as a message.
        await using var router = await RouterProcesses.StartAsync(cluster.ConnectionString, prefix, new Dictionary<string, string> { ["Router__RouteCacheTtl"] = "00:00:30" });
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // Poll mode by design on a cluster (one probe key cannot vouch for every primary's notifications).
        await Poll.UntilAsync(() => ReasonAsync(client, router), reason => reason.Contains("Redis Cluster", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the router's verdict on the cluster");

        Assert.Equal((HttpStatusCode.OK, "backend=b"), await GetAsync(client, router, "www.example.test"));
        Assert.Equal((HttpStatusCode.OK, "backend=a"), await GetAsync(client, router, "deep.sub.example.test"));

        // Hosts whose keys land on every primary: each first cached as unknown, then written with a
        // plain RPUSH (no change message) and served within a second.
        // Random names: keys that differ in a digit or two hash to nearby slots (CRC16), often on one or two nodes.
        var hosts = Enumerable.Range(0, 60).Select(_ => $"k{Guid.NewGuid():N}.plain.test").ToArray();
        // redis-cli --cluster create gives the three primaries slots 0-5460, 5461-10922, 10923-16383.
        var slots = new List<long>();
        foreach (var host in hosts)
        {
            slots.Add((long)await store.Write.ExecuteAsync("CLUSTER", "KEYSLOT", store.Keys.Frontend(host)));
        }

        var nodes = slots.Select(slot => slot switch { < 5461 => 0, < 10923 => 1, _ => 2 }).Distinct().Count();
        Assert.True(nodes == 3, $"the hosts' keys should cover all three primaries; slots: {string.Join(", ", slots)}");
        foreach (var host in hosts)
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(client, router, host)).Status);
        }

        foreach (var host in hosts)
        {
            await store.Write.ListRightPushAsync(store.Keys.Frontend(host), ["plain", a.Url]);
        }

        foreach (var host in hosts)
        {
            await Poll.UntilAsync(() => GetAsync(client, router, host), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(2), $"{host} written on its node to be served");
        }

        // A change message (the admin API's way) and a dead mark written by hand.
        await writer.ReplaceFrontendAsync("www.example.test", "www", [a.Url, b.Url], Ct);
        await store.Write.SetAddAsync(store.Keys.Dead("www.example.test"), 0);
        await store.Write.KeyExpireAsync(store.Keys.Dead("www.example.test"), TimeSpan.FromMinutes(1));
        await Poll.UntilAsync(async () =>
        {
            var answers = new List<string>();
            for (var i = 0; i < 20; i++)
            {
                answers.Add((await GetAsync(client, router, "www.example.test")).Body);
            }

            return answers;
        }, answers => answers.All(x => x == "backend=b"), TimeSpan.FromSeconds(2), "backend a marked dead on its node to be skipped");
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, RouterProcess router, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{router.Port}/"));
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        return (response.StatusCode, response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(Ct) : string.Empty);
    }

    private static async Task<string> ReasonAsync(HttpClient client, RouterProcess router)
    {
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{router.ManagementPort}/health"), Ct);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return body.RootElement.GetProperty("checks").GetProperty("route-cache").GetProperty("data").GetProperty("reason").GetString()!;
    }
}
