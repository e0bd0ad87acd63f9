using Hipache.Aspire.TestSupport;

[assembly: AssemblyFixture(typeof(Hipache.Aspire.RouteStore.Tests.RedisFixture))]

namespace Hipache.Aspire.RouteStore.Tests;

public sealed class RedisFixture : IAsyncLifetime
{
    public TestRedis Redis { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Redis = await TestRedis.StartAsync();
        TestContext.Current.SendDiagnosticMessage($"RouteStore.Tests use a real {Redis.Kind} on port {Redis.Port}");
    }

    public async ValueTask DisposeAsync() => await Redis.DisposeAsync();
}

/// <summary>The schema against a real Redis (hipache-compat 2.2, 2.4, 2.7, C18).</summary>
public sealed class RouteStoreRedisTests(RedisFixture fixture) : IAsyncLifetime
{
    private RedisConnections _connections = null!;

    public ValueTask InitializeAsync()
    {
        var options = new RouteStoreOptions { ConnectionString = fixture.Redis.ConnectionString, KeyPrefix = $"t{Guid.NewGuid():N}:" };
        _connections = RedisConnections.Connect(options);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _connections.DisposeAsync();

    [Fact]
    public async Task C18_lookup_reads_lists_and_dead_indexes_and_dead_marks_expire()
    {
        var ct = TestContext.Current.CancellationToken;
        var writer = new RouteWriter(_connections);
        var reader = new RouteReader(_connections);
        await writer.ReplaceFrontendAsync("domain.com", "id", ["http://a:1", "http://b:2"], ct);
        await writer.ReplaceFrontendAsync("*", "catchall", ["http://c:3"], ct);
        await writer.MarkDeadAsync("domain.com", "http://a:1/", 1, 2, TimeSpan.FromSeconds(1), writeDeadSet: true);
        await writer.MarkDeadAsync("domain.com", "http://a:1/", 5, 2, TimeSpan.FromSeconds(1), writeDeadSet: true);

        var reads = await reader.ReadFrontendsAsync(CandidateKeys.For("domain.com"), ct);
        Assert.Equal(["domain.com", "*.com", "*"], reads.Select(r => r.Key));
        var match = reads[0];
        Assert.True(match.Exists);
        Assert.Equal("id", match.Identifier);
        Assert.Equal(["http://a:1", "http://b:2"], match.Backends);
        Assert.Equal(new HashSet<int> { 1, 5 }, match.DeadIndexes);
        Assert.False(reads[1].Exists);

        // One key alone (the common miss) takes the unbatched path.
        var catchAll = Assert.Single(await reader.ReadFrontendsAsync(["*"], ct));
        Assert.Equal("catchall", catchAll.Identifier);
        Assert.Equal(["http://c:3"], catchAll.Backends);

        await Poll.UntilAsync(async () => (await reader.ReadFrontendsAsync(["domain.com"], ct))[0].DeadIndexes.Count, n => n == 0, TimeSpan.FromSeconds(5), "the dead set to expire");
    }

    [Fact]
    public async Task Section2_2_missing_and_empty_lists_do_not_match()
    {
        var reader = new RouteReader(_connections);
        await _connections.Write.ListRightPushAsync(_connections.Keys.Frontend("empty.here"), "id");
        await _connections.Write.ListLeftPopAsync(_connections.Keys.Frontend("empty.here"));
        var reads = await reader.ReadFrontendsAsync(CandidateKeys.For("nothing.here"), TestContext.Current.CancellationToken);
        Assert.All(reads, r => Assert.False(r.Exists));
        Assert.False((await reader.ReadFrontendsAsync(["empty.here"], TestContext.Current.CancellationToken))[0].Exists);
    }

    [Fact]
    public async Task Backend_add_is_idempotent_and_remove_drops_shifted_dead_marks()
    {
        var ct = TestContext.Current.CancellationToken;
        var writer = new RouteWriter(_connections);
        var reader = new RouteReader(_connections);
        await writer.ReplaceFrontendAsync("edit.test", "edit", ["http://a:1", "http://b:2", "http://c:3"], ct);
        Assert.Equal(BackendChange.Unchanged, await writer.AddBackendAsync("edit.test", "http://a:1", ct));
        Assert.Equal(BackendChange.Changed, await writer.AddBackendAsync("edit.test", "http://d:4", ct));
        Assert.Equal(BackendChange.FrontendNotFound, await writer.AddBackendAsync("none.test", "http://d:4", ct));

        await writer.MarkDeadAsync("edit.test", "http://a:1/", 0, 4, TimeSpan.FromSeconds(30), writeDeadSet: true);
        await writer.MarkDeadAsync("edit.test", "http://c:3/", 2, 4, TimeSpan.FromSeconds(30), writeDeadSet: true);
        Assert.Equal(BackendChange.Changed, await writer.RemoveBackendAsync("edit.test", "http://b:2", ct));
        Assert.Equal(BackendChange.BackendNotFound, await writer.RemoveBackendAsync("edit.test", "http://b:2", ct));

        var frontend = await reader.GetFrontendAsync("edit.test", ct);
        Assert.Equal(["http://a:1", "http://c:3", "http://d:4"], frontend!.Backends);
        var (dead, _) = await reader.GetDeadAsync("edit.test", ct);
        // Index 0 still means a; the old index 2 (c) now is index 1, so the stale mark is gone.
        Assert.Equal(new HashSet<int> { 0 }, dead);
    }

    [Fact]
    public async Task Bulk_replace_writes_every_list_and_drops_old_dead_marks()
    {
        var ct = TestContext.Current.CancellationToken;
        var writer = new RouteWriter(_connections);
        var reader = new RouteReader(_connections);
        await writer.ReplaceFrontendAsync("bulk0.test", "old", ["http://x:1", "http://y:2"], ct);
        await writer.MarkDeadAsync("bulk0.test", "http://x:1/", 0, 2, TimeSpan.FromSeconds(30), writeDeadSet: true);

        var frontends = Enumerable.Range(0, 1000)
            .Select(i => new Frontend($"bulk{i}.test", $"id{i}", i % 2 == 0 ? ["http://a:1", "http://b:2"] : ["http://a:1"]))
            .ToArray();
        await writer.ReplaceFrontendsAsync(frontends, ct);

        var first = await reader.GetFrontendAsync("bulk0.test", ct);
        Assert.Equal("id0", first!.Identifier);
        Assert.Equal(["http://a:1", "http://b:2"], first.Backends);
        var last = await reader.GetFrontendAsync("bulk999.test", ct);
        Assert.Equal(["http://a:1"], last!.Backends);
        var (dead, _) = await reader.GetDeadAsync("bulk0.test", ct);
        Assert.Empty(dead);
    }
}
