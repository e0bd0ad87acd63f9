using System.Globalization;
using System.Net;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// RouteStore:ReadFromReplicas on a primary + replica + Sentinels topology (real processes): route
/// reads go to the replica, and the read that follows a change goes to the primary, so that a
/// replica behind the change cannot put the old route back in the cache.
/// </summary>
[Trait("Category", "Sentinel")]
[Collection(Topologies.Name)]
public sealed class ReplicaReadTests
{
    private const int Hosts = 20;

    // More than a loaded machine gets through in the start's bound (1 s here), one cold read each.
    private const int WarmUpHosts = 2000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Cold_reads_go_to_the_replica_and_the_read_after_a_change_goes_to_the_primary()
    {
        await using var topology = await TestSentinelRedis.StartAsync(downAfter: TimeSpan.FromSeconds(5));
        await using var first = await TestBackend.StartAsync("first");
        await using var second = await TestBackend.StartAsync("second");
        var prefix = $"r{Guid.NewGuid():N}:";
        await using var store = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = topology.ConnectionString, KeyPrefix = prefix, OperationTimeout = TimeSpan.FromSeconds(10) });
        var writer = new RouteWriter(store);
        // All written before the router starts: a write's own change messages arriving after the
        // router read the host would make it read that host again, from the primary.
        await writer.ReplaceFrontendsAsync(
            [.. Enumerable.Range(0, Hosts).Select(i => new Frontend($"h{i}.replica.test", "app", [first.Url])),
             .. Enumerable.Range(0, WarmUpHosts).Select(i => new Frontend($"w{i}.replica.test", "app", [first.Url]))],
            Ct);

        var primaryPort = await topology.PrimaryPortAsync();
        var replicaPort = topology.ServerPorts.Single(p => p != primaryPort);
        await using var primary = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{primaryPort},allowAdmin=true");
        await using var replica = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{replicaPort},allowAdmin=true");
        // The replica has every frontend before the router reads any.
        await Poll.UntilAsync(() => replica.GetDatabase().KeyExistsAsync($"{prefix}frontend:w{WarmUpHosts - 1}.replica.test"), e => e, TimeSpan.FromSeconds(10), "the replica caught up");

        await using var router = await RouterProcesses.StartAsync(topology.ConnectionString, prefix, new Dictionary<string, string>
        {
            ["RouteStore__ReadFromReplicas"] = "true",
            ["RouteStore__ReplicaLagBound"] = "00:00:01",
        });
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        // For the bound after its start (every key invalidated once it subscribed) the router reads
        // from the primary: a warm-up host each time, until a cold read lands on the replica.
        var warmUp = 0;
        await Poll.UntilAsync(
            async () =>
            {
                var before = await ListReadsAsync(replica);
                Assert.Equal((HttpStatusCode.OK, "backend=first"), await GetAsync(client, router, $"w{warmUp++}.replica.test"));
                return await ListReadsAsync(replica) > before;
            },
            onReplica => onReplica,
            TimeSpan.FromSeconds(10),
            "a cold read served by the replica once the start's bound is over");

        var primaryBefore = await ListReadsAsync(primary);
        var replicaBefore = await ListReadsAsync(replica);
        for (var i = 0; i < Hosts; i++)
        {
            Assert.Equal((HttpStatusCode.OK, "backend=first"), await GetAsync(client, router, $"h{i}.replica.test"));
        }

        Assert.True(await ListReadsAsync(replica) - replicaBefore >= Hosts, "every cold read on the replica");
        Assert.Equal(primaryBefore, await ListReadsAsync(primary));

        // A change (published by the writer): the router reads that key again at once, from the
        // primary, and serves the new backend.
        var primaryBeforeChange = await ListReadsAsync(primary);
        await writer.ReplaceFrontendAsync("h0.replica.test", "app", [second.Url], Ct);
        await Poll.UntilAsync(() => GetAsync(client, router, "h0.replica.test"), r => r == (HttpStatusCode.OK, "backend=second"), TimeSpan.FromSeconds(10), "the change served");
        Assert.True(await ListReadsAsync(primary) > primaryBeforeChange, "the read after the change went to the primary");
    }

    /// <summary>LRANGE calls the server has answered (INFO commandstats).</summary>
    private static async Task<long> ListReadsAsync(ConnectionMultiplexer connection)
    {
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var stats = await server.InfoAsync("commandstats");
        var line = stats.SelectMany(g => g).FirstOrDefault(p => p.Key == "cmdstat_lrange").Value;
        if (line is null)
        {
            return 0;
        }

        // calls=N,usec=...
        var calls = line.Split(',')[0];
        return long.Parse(calls[(calls.IndexOf('=', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
    }

    private static async Task<(HttpStatusCode, string)> GetAsync(HttpClient client, RouterProcess router, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{router.Port}/"));
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }
}
