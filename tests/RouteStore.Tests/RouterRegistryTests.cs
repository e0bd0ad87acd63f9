using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.RouteStore.Tests;

/// <summary>The router registry's keys against a real Redis: announcements round-trip, expire, and are pruned from the index.</summary>
public sealed class RouterRegistryTests(RedisFixture fixture) : IAsyncLifetime
{
    private RedisConnections _connections = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _connections = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = fixture.Redis.ConnectionString, KeyPrefix = $"t{Guid.NewGuid():N}:" });
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _connections.DisposeAsync();

    [Fact]
    public async Task An_announcement_reads_back_whole_and_leaves_when_its_ttl_passes()
    {
        var registry = new RouterRegistry(_connections);
        var started = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var lasting = new RouterAnnouncement("r-lasting", "1.2.3", ["http://127.0.0.1:8080", "https://[::]:8443"], "http://127.0.0.1:8081", started, started.AddSeconds(9), 42, "push: probe came back", "www.example.com", started.AddSeconds(5));
        var brief = lasting with { Id = "r-brief", Addresses = [], Management = null, LastChange = null, LastChangeAt = null };
        await registry.AnnounceAsync(lasting, TimeSpan.FromMinutes(1), Ct);
        await registry.AnnounceAsync(brief, TimeSpan.FromMilliseconds(300), Ct);

        var both = await registry.ListLiveAsync(Ct);
        Assert.Equal(["r-brief", "r-lasting"], both.Select(r => r.Id));
        var read = both[1];
        Assert.Equal(lasting.Addresses, read.Addresses);
        Assert.Equal(lasting with { Addresses = read.Addresses }, read);
        Assert.Empty(both[0].Addresses);
        Assert.Null(both[0].LastChangeAt);

        await Poll.UntilAsync(() => registry.ListLiveAsync(Ct), l => l.Count == 1, TimeSpan.FromSeconds(10), "the brief announcement to expire");
        var index = await _connections.Write.SetMembersAsync(_connections.Keys.RouterIndexKey);
        Assert.Equal(["r-lasting"], index.Select(v => v.ToString()));

        await registry.WithdrawAsync("r-lasting", Ct);
        Assert.Empty(await registry.ListLiveAsync(Ct));
        Assert.False(await _connections.Write.KeyExistsAsync(_connections.Keys.RouterIndexKey));
    }
}
