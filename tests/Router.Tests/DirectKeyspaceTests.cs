using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The direct keyspace subscription (<c>Router:DirectKeyspaceSubscription</c>, epoll engine): the
/// router's own connection carries the redis-cli changes while the library's stands by, hands
/// over when it is lost or refused, comes back, and is off where it does not apply. Each test runs
/// a Redis of its own: they look for the router's connection among the server's clients.
/// </summary>
public sealed class DirectKeyspaceTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private const string ClientName = "hipache-aspire-keyspace";

    private static readonly Dictionary<string, string?> Epoll = new()
    {
        ["Router:IoEngine"] = "Epoll",
        ["Router:StoreCheckInterval"] = "00:00:00.200",
    };

    [Fact]
    public async Task With_an_acl_user_a_plain_rpush_is_applied_from_the_routers_own_connection()
    {
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications");
        await using var admin = await redis.ConnectAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        await server.ExecuteAsync("ACL", "SETUSER", "router", "on", ">s3cret", "~*", "&*", "+@all");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>(Epoll) { ["ConnectionStrings:redis"] = $"{redis.ConnectionString},user=router,password=s3cret" });
        await WaitForDirectAsync(router, "active");
        await router.WaitForCacheModeAsync("push");

        var clients = (string)(await server.ExecuteAsync("CLIENT", "LIST"))!;
        Assert.Contains(clients.Split('\n'), line => line.Contains($"name={ClientName} ", StringComparison.Ordinal) && line.Contains("user=router", StringComparison.Ordinal) && line.Contains("cmd=psubscribe", StringComparison.Ordinal));

        // The library's subscription skips keyspace notifications while the direct one is active:
        // only the direct one can have applied this before the 5 min push lifetime.
        await AssertUnknownHostServedAfterRpushAsync(router, admin.GetDatabase(), "direct");
    }

    [Fact]
    public async Task A_refused_reconnect_hands_changes_to_the_library_subscription_until_the_direct_one_is_back()
    {
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications");
        await using var router = await RunningRouter.StartAsync(redis, Epoll);
        await WaitForDirectAsync(router, "active");
        await using var admin = await redis.ConnectAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var db = admin.GetDatabase();
        var first = await StartBackendAsync("first");
        var second = await StartBackendAsync("second");
        var third = await StartBackendAsync("third");
        await router.RpushAsync(db, "handover.test", "handover", first.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("handover.test"), r => r.Body == "backend=first", TimeSpan.FromSeconds(3), "the route to be served");

        // Connections made from now on must authenticate, and the router has no password: its
        // direct connection is cut and cannot come back; the library's stay authenticated.
        await server.ExecuteAsync("CONFIG", "SET", "requirepass", "now-required");
        await server.ExecuteAsync("CLIENT", "KILL", "ID", await DirectClientIdAsync(server));
        Assert.Contains("NOAUTH", await WaitForDirectAsync(router, "reconnecting: Redis refused"), StringComparison.Ordinal);
        await db.ListSetByIndexAsync(router.Prefix + "frontend:handover.test", 1, second.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("handover.test"), r => r.Body == "backend=second", TimeSpan.FromSeconds(3), "the change made while the direct subscription was refused");

        await server.ExecuteAsync("CONFIG", "SET", "requirepass", string.Empty);
        await WaitForDirectAsync(router, "active", TimeSpan.FromSeconds(15));
        await db.ListSetByIndexAsync(router.Prefix + "frontend:handover.test", 1, third.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("handover.test"), r => r.Body == "backend=third", TimeSpan.FromSeconds(3), "the change made after the direct subscription came back");
    }

    [Theory]
    [InlineData("Epoll", false, "off: Router:DirectKeyspaceSubscription is false")]
    [InlineData("Sockets", true, "off: the Sockets I/O engine")]
    public async Task Where_it_does_not_apply_the_library_subscription_carries_the_changes(string ioEngine, bool enabled, string status)
    {
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["Router:IoEngine"] = ioEngine,
            ["Router:DirectKeyspaceSubscription"] = enabled ? "true" : "false",
            ["Router:StoreCheckInterval"] = "00:00:00.200",
        });
        await WaitForDirectAsync(router, status);
        await router.WaitForCacheModeAsync("push");
        await using var admin = await redis.ConnectAsync();
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        Assert.DoesNotContain(ClientName, (string)(await server.ExecuteAsync("CLIENT", "LIST"))!, StringComparison.Ordinal);

        await AssertUnknownHostServedAfterRpushAsync(router, admin.GetDatabase(), "library");
    }

    [Fact]
    public async Task A_new_ttl_leaves_the_cached_route_alone_and_the_standing_by_subscription_applies_nothing()
    {
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications");
        await using var router = await RunningRouter.StartAsync(redis, Epoll);
        await WaitForDirectAsync(router, "active");
        await using var admin = await redis.ConnectAsync();
        var backend = await StartBackendAsync("ttl");
        await router.RpushAsync(admin.GetDatabase(), "ttl.test", "ttl", backend.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("ttl.test"), r => r.Body == "backend=ttl", TimeSpan.FromSeconds(3), "the route to be served");

        var changes = router.Services.GetRequiredService<KeyspaceChanges>();
        var cache = router.Services.GetRequiredService<RouteCache>();
        var redisKey = router.Prefix + "frontend:ttl.test";
        changes.FromDirect(redisKey, "expire");
        changes.FromDirect(redisKey, "persist");
        Assert.True(cache.TryGetFresh("ttl.test", out _), "a TTL-only event dropped the cached route");
        changes.FromLibrary(redisKey, "lset");
        Assert.True(cache.TryGetFresh("ttl.test", out _), "the library's subscription applied a change while the direct one was active");
        changes.FromDirect(redisKey, "lset");
        Assert.False(cache.TryGetFresh("ttl.test", out _), "a list change left the cached route fresh");
    }

    /// <summary><c>&lt;name&gt;.test</c> is unknown (400, now cached as not found), is written with a plain RPUSH, and is served within 3 s.</summary>
    private async Task AssertUnknownHostServedAfterRpushAsync(RunningRouter router, StackExchange.Redis.IDatabase db, string name)
    {
        var backend = await StartBackendAsync(name);
        Assert.Equal(400, (await router.GetTextAsync($"{name}.test")).Status);
        await router.RpushAsync(db, $"{name}.test", name, backend.Url);
        await Poll.UntilAsync(() => router.GetTextAsync($"{name}.test"), r => r.Body == $"backend={name}", TimeSpan.FromSeconds(3), "the rpush to be served");
    }

    private static async Task<string> WaitForDirectAsync(RunningRouter router, string status, TimeSpan? timeout = null)
    {
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{router.ManagementPort}") };
        return await Poll.UntilAsync(() => management.GetStringAsync("/health", Ct), s => s.Contains($"\"directKeyspace\":\"{status}", StringComparison.Ordinal), timeout ?? TimeSpan.FromSeconds(10), $"the direct keyspace subscription to report '{status}'");
    }

    private static async Task<string> DirectClientIdAsync(StackExchange.Redis.IServer server)
    {
        var clients = (string)(await server.ExecuteAsync("CLIENT", "LIST"))!;
        var line = clients.Split('\n').Single(l => l.Contains($"name={ClientName} ", StringComparison.Ordinal));
        return line.Split(' ').Single(part => part.StartsWith("id=", StringComparison.Ordinal))[3..];
    }
}
