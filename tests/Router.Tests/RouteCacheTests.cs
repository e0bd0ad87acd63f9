using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Route cache v2: push and poll modes, refresh ahead of expiry, per-key slots (a wildcard change
/// touches one slot), and the separate bounds of found and not-found keys. Tests that switch
/// keyspace notifications run on a Redis of their own.
/// </summary>
public sealed class RouteCacheTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    [Fact]
    public async Task The_router_reports_push_mode_while_its_probe_comes_back_and_poll_mode_when_notifications_stop()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:StoreCheckInterval"] = "00:00:00.200" });
        if (!redis.SupportsKeyspaceNotifications)
        {
            var health = await router.WaitForCacheModeAsync("poll", "did not arrive");
            Assert.Contains("did not arrive", health, StringComparison.Ordinal);
            return;
        }

        Assert.Contains("\"entryLifetime\":\"00:05:00\"", await router.WaitForCacheModeAsync("push"), StringComparison.Ordinal);
        await using var connection = await redis.ConnectAsync();
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        await server.ConfigSetAsync("notify-keyspace-events", string.Empty);
        Assert.Contains("\"entryLifetime\":\"00:00:05\"", await router.WaitForCacheModeAsync("poll", "did not arrive"), StringComparison.Ordinal);
        await server.ConfigSetAsync("notify-keyspace-events", "Kglsxe");
        await router.WaitForCacheModeAsync("push");
    }

    [Fact]
    public async Task A_dropped_subscription_ends_push_mode_at_once_and_a_change_it_missed_is_served_within_RouteCacheTtl()
    {
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications: poll mode only");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["Router:StoreCheckInterval"] = "00:00:00.200",
            ["Router:RouteCacheTtl"] = "00:00:00.500",
        });
        await router.WaitForCacheModeAsync("push");
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var first = await StartBackendAsync("first");
        var second = await StartBackendAsync("second");
        await router.RpushAsync(db, "dropped.test", "dropped", first.Url);
        Assert.Equal((200, "backend=first"), await router.GetTextAsync("dropped.test"));

        // Every subscription connection on this Redis is cut; a write right after may reach the
        // router's new subscription or fall in the gap: either way it must be served within
        // RouteCacheTtl of the loss, not RouteCachePushTtl.
        var feed = router.Services.GetRequiredService<ChangeFeed>();
        var lostBefore = feed.LastPushLostAt;
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        await server.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        await db.ListSetByIndexAsync(router.Prefix + "frontend:dropped.test", 1, second.Url);
        await Poll.UntilAsync(() => Task.FromResult(feed.LastPushLostAt), at => at != lostBefore, TimeSpan.FromSeconds(5), "push mode to end when the subscription dropped");
        await Poll.UntilAsync(() => router.GetTextAsync("dropped.test"), r => r.Body == "backend=second", TimeSpan.FromSeconds(3), "the change made while the subscription was cut");
        await router.WaitForCacheModeAsync("push");
    }

    [Fact]
    public async Task In_push_mode_an_entry_outlives_RouteCacheTtl_and_a_plain_rpush_is_still_served_at_once()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:00:00.200", ["Router:StoreCheckInterval"] = "00:00:00.200" });
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "the store offers no keyspace notifications: poll mode only");
        await router.WaitForCacheModeAsync("push");
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var first = await StartBackendAsync("first");
        var second = await StartBackendAsync("second");
        await router.RpushAsync(db, "push.test", "push", first.Url);
        Assert.Equal((200, "backend=first"), await router.GetTextAsync("push.test"));

        // Five lifetimes of the poll TTL later, with no request in between: still fresh.
        var cache = router.Services.GetRequiredService<RouteCache>();
        var until = DateTime.UtcNow.AddSeconds(1);
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(100, Ct);
        }

        Assert.True(cache.TryGetFresh("push.test", out var cached));
        Assert.Equal(first.Url, cached.Route!.Backends[0].Url);

        // A redis-cli write, no change message: the keyspace notification drops and re-reads the slot.
        await db.ListSetByIndexAsync(router.Prefix + "frontend:push.test", 1, second.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("push.test"), r => r.Body == "backend=second", TimeSpan.FromSeconds(2), "the change to be served");
    }

    [Fact]
    public async Task A_read_that_finds_nothing_changed_renews_the_entry_in_place_and_a_change_replaces_it()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var router = await RunningRouter.StartAsync(redis);
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var first = await StartBackendAsync("first");
        var second = await StartBackendAsync("second");
        await router.RpushAsync(db, "renew.test", "renew", first.Url, second.Url);
        var cache = router.Services.GetRequiredService<RouteCache>();

        // Every entry must be read again (what a reconnect does): the read finds the same list and
        // dead set, so the entry stays the same object, fresh again. (The RPUSH's own keyspace
        // notification may still be on its way and replace the first entry: a few tries.)
        RouteEntry? original = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var before = (await cache.LookupAsync("renew.test", Ct)).Route!;
            cache.InvalidateAll();
            Assert.False(cache.TryGetFresh("renew.test", out _));
            var reread = await cache.LookupAsync("renew.test", Ct);
            if (ReferenceEquals(before, reread.Route))
            {
                original = before;
                break;
            }
        }

        Assert.NotNull(original);
        Assert.True(cache.TryGetFresh("renew.test", out var fresh));
        Assert.Same(original, fresh.Route);

        // A dead mark written behind the router's back: a new entry with the backend dead. (A
        // lookup may join a read that was already under way before the write, and get what it
        // read: the write's own notification makes the next lookup read again, hence the poll.)
        await db.SetAddAsync(router.Prefix + "dead:renew.test", 0);
        var marked = await Poll.UntilAsync(
            async () =>
            {
                cache.InvalidateAll();
                return (await cache.LookupAsync("renew.test", Ct)).Route!;
            },
            route => route.Dead.SequenceEqual([true, false]), TimeSpan.FromSeconds(10), "the dead mark to be read");
        Assert.NotSame(original, marked);

        // A changed list: a new entry with the new backends.
        await db.KeyDeleteAsync(router.Prefix + "dead:renew.test");
        await db.ListSetByIndexAsync(router.Prefix + "frontend:renew.test", 2, first.Url);
        var changed = await Poll.UntilAsync(
            async () =>
            {
                cache.InvalidateAll();
                return (await cache.LookupAsync("renew.test", Ct)).Route!;
            },
            route => route.Backends[1].Url == first.Url && !route.Dead[0], TimeSpan.FromSeconds(10), "the changed list to be read");
        Assert.NotSame(marked, changed);
        Assert.Equal([first.Url, first.Url], changed.Backends.Select(b => b.Url));
        Assert.Equal([false, false], changed.Dead);
        Assert.Equal((200, "backend=first"), await router.GetTextAsync("renew.test"));
    }

    [Fact]
    public async Task A_host_that_is_hit_is_refreshed_ahead_of_expiry_and_never_misses()
    {
        // Poll mode (notifications off), a short lifetime: without refresh-ahead every 4 s would miss.
        await using var redis = await TestRedis.StartAsync();
        await using var connection = await redis.ConnectAsync();
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:00:04" });
        var backend = await StartBackendAsync("hot");
        var db = connection.GetDatabase();
        await router.RpushAsync(db, "hot.test", "hot", backend.Url);
        if (redis.SupportsKeyspaceNotifications)
        {
            // The router switched them on at start; off again, and wait until it noticed.
            await connection.GetServer(connection.GetEndPoints()[0]).ConfigSetAsync("notify-keyspace-events", string.Empty);
            await router.WaitForCacheModeAsync("poll", "did not arrive");
        }

        Assert.Equal((200, "backend=hot"), await router.GetTextAsync("hot.test"));
        var cache = router.Services.GetRequiredService<RouteCache>();
        var misses = 0;
        var continuous = 0;
        var lastHit = Environment.TickCount64;
        var until = DateTime.UtcNow.AddSeconds(9);
        while (DateTime.UtcNow < until)
        {
            // A hit every 50 ms: from 2 s of age on, the first one starts a background read, which
            // has two seconds to land (a failed one, past OperationTimeout, is tried again by the
            // next hit). The promise holds for a host hit within every half lifetime: a gap of this
            // loop longer than a second (a loaded test process) is not counted.
            var now = Environment.TickCount64;
            var fresh = cache.TryGetFresh("hot.test", out _);
            if (now - lastHit < 1000)
            {
                continuous++;
                if (!fresh)
                {
                    misses++;
                }
            }

            if (!fresh)
            {
                Assert.Equal((200, "backend=hot"), await router.GetTextAsync("hot.test"));
            }

            lastHit = now;
            await Task.Delay(50, Ct);
        }

        // Enough of the loop ran without a gap to span two lifetimes.
        Assert.True(continuous >= 100, $"only {continuous} hits came within half a lifetime of the one before");
        Assert.Equal(0, misses);
    }

    [Fact]
    public async Task A_wildcard_change_replaces_one_slot_and_every_host_under_it_serves_it()
    {
        var a = await StartBackendAsync("a");
        var b = await StartBackendAsync("b");
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:10:00", ["Router:MaxStaleness"] = "00:10:00" }, []);
        await router.RpushAsync(Db, "*.wild.test", "wild", a.Url);
        var hosts = Enumerable.Range(0, 50).Select(i => $"h{i}.wild.test").ToArray();
        foreach (var host in hosts)
        {
            Assert.Equal((200, "backend=a"), await router.GetTextAsync(host));
        }

        // One found slot (the wildcard); the hosts are not-found slots of their own keys.
        var cache = router.Services.GetRequiredService<RouteCache>();
        Assert.Equal(1, cache.FoundCount);
        Assert.True(cache.NotFoundCount >= hosts.Length);

        await Db.ListSetByIndexAsync(router.Prefix + "frontend:*.wild.test", 1, b.Url);
        await Poll.UntilAsync(() => router.GetTextAsync(hosts[0]), r => r.Body == "backend=b", TimeSpan.FromSeconds(2), "the wildcard change");
        foreach (var host in hosts)
        {
            Assert.Equal((200, "backend=b"), await router.GetTextAsync(host));
        }
    }

    [Fact]
    public async Task A_flood_of_unknown_hosts_is_bounded_and_never_evicts_the_real_table()
    {
        var backend = await StartBackendAsync("real");
        var router = await StartRouterAsync(new Dictionary<string, string?>
        {
            ["Router:RouteCacheTtl"] = "00:10:00",
            ["Router:MaxStaleness"] = "00:10:00",
            ["Router:RouteCacheNegativeSize"] = "500",
            ["Router:RouteCacheSize"] = "100",
        }, []);
        var real = Enumerable.Range(0, 50).Select(i => $"real{i}.flood.test").ToArray();
        foreach (var host in real)
        {
            await router.RpushAsync(Db, host, "real", backend.Url);
            Assert.Equal((200, "backend=real"), await router.GetTextAsync(host));
        }

        var cache = router.Services.GetRequiredService<RouteCache>();
        for (var i = 0; i < 10_000; i++)
        {
            var junk = await cache.LookupAsync($"junk{i}.flood.test", Ct);
            Assert.Equal(LookupStatus.NotFound, junk.Status);
        }

        await Poll.UntilAsync(() => Task.FromResult(cache.NotFoundCount), n => n <= 500, TimeSpan.FromSeconds(10), "the not-found slots to be swept back under their bound");
        Assert.Equal(real.Length, cache.FoundCount);
        // Fresh (a slot that a late keyspace notification demoted is read again at once).
        await Poll.UntilAsync(() => Task.FromResult(real.Count(host => cache.TryGetFresh(host, out var hit) && hit.Status == LookupStatus.Found)), n => n == real.Length, TimeSpan.FromSeconds(10), "every real host to be a fresh hit");
    }

    [Fact]
    public async Task Found_keys_past_RouteCacheSize_are_swept_keeping_the_ones_in_use()
    {
        var backend = await StartBackendAsync("many");
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:10:00", ["Router:MaxStaleness"] = "00:10:00", ["Router:RouteCacheSize"] = "64" }, []);
        var cache = router.Services.GetRequiredService<RouteCache>();
        var hosts = Enumerable.Range(0, 300).Select(i => $"m{i}.many.test").ToArray();
        foreach (var host in hosts)
        {
            await router.RpushAsync(Db, host, "many", backend.Url);
            Assert.Equal(LookupStatus.Found, (await cache.LookupAsync(host, Ct)).Status);

            // The first host is in use all along: its CLOCK bit keeps it through every sweep.
            Assert.Equal(LookupStatus.Found, (await cache.LookupAsync(hosts[0], Ct)).Status);
        }

        await Poll.UntilAsync(() => Task.FromResult(cache.FoundCount), n => n <= 64, TimeSpan.FromSeconds(5), "the found slots to be swept back under their bound");
        Assert.True(cache.TryGetFresh(hosts[0], out _));
    }

    [Fact]
    public async Task Hipache_mode_applies_the_requested_hosts_dead_set_to_the_wildcard_it_matches()
    {
        var a = await StartBackendAsync("a");
        var b = await StartBackendAsync("b");
        var router = await StartRouterAsync(new Dictionary<string, string?> { ["Router:Compatibility"] = "Hipache", ["Router:RouteCacheTtl"] = "00:10:00", ["Router:MaxStaleness"] = "00:10:00" }, []);
        await router.RpushAsync(Db, "*.q12.test", "q12", a.Url, b.Url);
        await Db.SetAddAsync(router.Prefix + "dead:x.q12.test", 0);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "backend=b"), await router.GetTextAsync("x.q12.test"));
        }

        // Another host under the wildcard has no dead set of its own: both backends serve it.
        var seen = new HashSet<string>();
        await Poll.UntilAsync(async () => seen.Add((await router.GetTextAsync("y.q12.test")).Body) ? seen.Count : seen.Count, n => n == 2, TimeSpan.FromSeconds(5), "both backends for y.q12.test");

        // The dead mark goes: the next requests of x reach both again.
        await Db.KeyDeleteAsync(router.Prefix + "dead:x.q12.test");
        seen.Clear();
        await Poll.UntilAsync(async () => seen.Add((await router.GetTextAsync("x.q12.test")).Body) ? seen.Count : seen.Count, n => n == 2, TimeSpan.FromSeconds(5), "both backends for x.q12.test");
    }
}
