using System.Net;
using System.Net.WebSockets;
using System.Text;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Q20 (store outage), section 6 (WebSockets) and several routers on one Redis. Each test owns
/// its Redis, because some kill it.
/// </summary>
public sealed class ResilienceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Q20_cached_routes_survive_a_redis_outage_unknown_hosts_get_503_and_it_recovers()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var backend = await TestBackend.StartAsync("A");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            // Short TTL: the cached entry is expired by the time Redis is gone, so it is served stale.
            ["Router:RouteCacheTtl"] = "00:00:00.200",
            ["RouteStore:OperationTimeout"] = "00:00:00.500",
        });
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "outage.test", "outage", backend.Url);
        }

        Assert.Equal((200, "backend=A"), await router.GetTextAsync("outage.test"));
        await redis.StopAsync();

        // Stale-if-error: the known route keeps working, with bounded latency.
        var started = DateTime.UtcNow;
        Assert.Equal((200, "backend=A"), await router.GetTextAsync("outage.test"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "a request must not hang on the store");

        // Nothing cached: a clear 503, not a hang and not a 400 that would claim the host is unknown.
        var unknown = await router.GetTextAsync("never-seen.test");
        Assert.Equal(503, unknown.Status);
        Assert.Equal((200, "ok"), await router.GetTextAsync("__ping__"));

        // Degraded, not Unhealthy: the router still serves, an orchestrator must not pull it.
        await router.WaitForHealthAsync("Degraded");

        await redis.StartAgainAsync();
        await router.WaitForHealthAsync("Healthy", TimeSpan.FromSeconds(20));
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "after.test", "after", backend.Url);
        }

        await Poll.UntilAsync(() => router.GetTextAsync("after.test"), r => r.Status == 200, TimeSpan.FromSeconds(20), "a route written after the restart");
    }

    [Fact]
    public async Task Q20_a_host_looked_up_while_redis_was_down_is_read_again_once_it_is_back()
    {
        // Found by bench/soak.sh: a lookup that failed at once (Redis disconnected: the batch
        // throws synchronously) stayed published as the host's in-flight read, so the host was
        // never read again: stale answers, then 503, long after Redis was back.
        await using var redis = await TestRedis.StartAsync();
        await using var a = await TestBackend.StartAsync("A");
        await using var b = await TestBackend.StartAsync("B");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["Router:RouteCacheTtl"] = "00:00:00.200",
            ["RouteStore:OperationTimeout"] = "00:00:00.500",
        });
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "back.test", "back", a.Url);
        }

        Assert.Equal((200, "backend=A"), await router.GetTextAsync("back.test"));
        await redis.StopAsync();
        await router.WaitForHealthAsync("Degraded");

        // Misses while Redis is down: served stale.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal((200, "backend=A"), await router.GetTextAsync("back.test"));
            await Task.Delay(250, Ct);
        }

        await redis.StartAgainAsync();
        await router.WaitForHealthAsync("Healthy", TimeSpan.FromSeconds(20));
        await using (var connection = await redis.ConnectAsync())
        {
            // The restarted Redis is empty: the host now has only B.
            await router.RpushAsync(connection.GetDatabase(), "back.test", "back", b.Url);
        }

        await Poll.UntilAsync(() => router.GetTextAsync("back.test"), r => r == (200, "backend=B"), TimeSpan.FromSeconds(10), "the host to be read again after Redis came back");
    }

    [Fact]
    public async Task Q20_a_dead_mark_heard_just_before_redis_stalls_leaves_the_host_served_from_its_cached_copy()
    {
        // Found by a loaded CI run (FaultsUnderLoadTests): a dead mark's keyspace notification and
        // dead message dropped the host's cached route, so when Redis stalled past
        // OperationTimeout right after, the whole host answered 503 although its route was known.
        await using var redis = await TestRedis.StartAsync();
        Assert.SkipUnless(redis.SupportsKeyspaceNotifications, "CLIENT PAUSE and keyspace notifications: redis-server only");
        await using var a = await TestBackend.StartAsync("A");
        await using var b = await TestBackend.StartAsync("B");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["RouteStore:OperationTimeout"] = "00:00:00.500",
        });
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await router.RpushAsync(db, "stall.test", "stall", a.Url, b.Url);
        Assert.Equal(200, (await router.GetTextAsync("stall.test")).Status);

        // Another router marks A dead (the set, its notification and the dead message), and Redis
        // stops answering at once for 3 s: the re-read the mark triggers cannot complete.
        var batch = db.CreateBatch();
        var marked = batch.SetAddAsync(router.Prefix + "dead:stall.test", 0);
        var published = batch.PublishAsync(StackExchange.Redis.RedisChannel.Literal("dead"), $"stall.test;{a.Url}/;0;2");
        var paused = batch.ExecuteAsync("CLIENT", "PAUSE", 3000);
        batch.Execute();
        await Task.WhenAll(marked, published, paused);

        var (status, body) = await router.GetTextAsync("stall.test");
        Assert.Equal(200, status);
        Assert.StartsWith("backend=", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Q20_a_backend_dying_while_redis_is_down_leaves_its_live_neighbours_serving()
    {
        // Found by bench/soak.sh: the dead mark dropped the cached route, the re-read failed
        // (Redis down), and the host answered 503 although its other backend was alive.
        await using var redis = await TestRedis.StartAsync();
        var dying = await TestBackend.StartAsync("A");
        await using var live = await TestBackend.StartAsync("B");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["Router:RouteCacheTtl"] = "00:10:00",
            ["Router:MaxStaleness"] = "00:10:00",
            ["RouteStore:OperationTimeout"] = "00:00:00.300",
        });
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "outage-death.test", "app", dying.Url, live.Url);
        }

        Assert.Equal(200, (await router.GetTextAsync("outage-death.test")).Status);
        await redis.StopAsync();
        await router.WaitForHealthAsync("Degraded");
        await dying.DisposeAsync();

        // Random choice: 20 requests pick A (refused, marked dead, retried on B) with certainty
        // but for 2^-20; every one of them, and every one after, must still reach B.
        var answers = new List<(int, string)>();
        for (var i = 0; i < 20; i++)
        {
            answers.Add(await router.GetTextAsync("outage-death.test"));
        }

        Assert.All(answers, a => Assert.Equal((200, "backend=B"), a));
    }

    [Fact]
    public async Task Q27_stopping_drains_in_flight_requests_and_refuses_new_ones()
    {
        await using var redis = await TestRedis.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await TestBackend.StartAsync("slow", async context =>
        {
            arrived.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("finished");
        });
        await using var router = await RunningRouter.StartAsync(redis);
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "drain.test", "drain", slow.Url);
        }

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{router.Port}") };
        async Task<(int, string)> SendAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Host = "drain.test";
            using var response = await client.SendAsync(request, Ct);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        var inFlight = SendAsync();
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // What SIGTERM triggers: the host stops; Kestrel stops accepting and waits for in-flight work.
        var stopping = router.StopAsync();
        await Poll.UntilAsync(async () =>
        {
            using var probe = new System.Net.Sockets.TcpClient();
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, router.Port, Ct);
                return false;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return true;
            }
        }, refused => refused, what: "new connections to be refused");
        Assert.False(inFlight.IsCompleted);

        release.SetResult();
        Assert.Equal((200, "finished"), await inFlight.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        await stopping.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task Section6_websocket_echo_passes_through_and_survives_a_route_change()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var echo = await TestBackend.StartAsync("ws", async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
            }
        });
        await using var other = await TestBackend.StartAsync("other");
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:10:00", ["Router:MaxStaleness"] = "00:10:00" });
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await router.RpushAsync(db, "ws.test", "ws", echo.Url);

        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader("Host", "ws.test");
        await client.ConnectAsync(new Uri($"ws://127.0.0.1:{router.Port}/socket"), Ct);
        Assert.Equal("hello", await EchoAsync(client, "hello"));

        // Re-route the host while the socket is open: new requests go to the new backend, the open
        // tunnel is not disturbed.
        await db.KeyDeleteAsync(router.Prefix + "frontend:ws.test");
        await router.RpushAsync(db, "ws.test", "ws", other.Url);
        await router.Services.GetRequiredService<Hipache.Aspire.RouteStore.RouteWriter>().PublishChangeAsync("ws.test");
        await Poll.UntilAsync(() => router.GetTextAsync("ws.test"), r => r.Body == "backend=other", TimeSpan.FromSeconds(30), "the new route");
        Assert.Equal("still here", await EchoAsync(client, "still here"));
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct);
    }

    [Fact]
    public async Task Q4_websocket_to_a_refused_backend_gets_502_not_a_hang()
    {
        await using var redis = await TestRedis.StartAsync();
        var closed = await TestBackend.StartAsync("closed");
        var url = closed.Url;
        await closed.DisposeAsync();
        await using var router = await RunningRouter.StartAsync(redis);
        await using (var connection = await redis.ConnectAsync())
        {
            await router.RpushAsync(connection.GetDatabase(), "wsdead.test", "wsdead", url);
        }

        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader("Host", "wsdead.test");
        client.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => client.ConnectAsync(new Uri($"ws://127.0.0.1:{router.Port}/"), Ct));
        Assert.Equal(HttpStatusCode.BadGateway, client.HttpStatusCode);
    }

    [Fact]
    public async Task Two_routers_on_one_redis_share_dead_marks_and_route_changes()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var live = await TestBackend.StartAsync("live");
        var failing = await TestBackend.StartAsync("failing");
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var first = await RunningRouter.StartAsync(redis, prefix: prefix, settings: new Dictionary<string, string?>
        {
            ["Router:RetryOnError"] = "0",
            ["Router:RouteCacheTtl"] = "00:10:00",
            ["Router:MaxStaleness"] = "00:10:00",
        });
        // A cache TTL far beyond the test: only a message through Redis can change what it serves.
        await using var second = await RunningRouter.StartAsync(redis, prefix: prefix, settings: new Dictionary<string, string?>
        {
            ["Router:RetryOnError"] = "0",
            ["Router:RouteCacheTtl"] = "00:10:00",
            ["Router:MaxStaleness"] = "00:10:00",
        });
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await first.RpushAsync(db, "pair.test", "pair", live.Url, failing.Url);
        Assert.Equal(200, (await second.GetTextAsync("pair.test")).Status);

        await failing.DisposeAsync();
        await Poll.UntilAsync(() => first.GetTextAsync("pair.test"), r => r.Status == 502, TimeSpan.FromSeconds(10), "the first router to hit the stopped backend");
        await Poll.UntilAsync(() => db.SetMembersAsync(prefix + "dead:pair.test"), m => m.Length == 1, what: "the dead mark");

        // The second router never saw the failure itself; it must avoid the backend all the same.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "backend=live"), await second.GetTextAsync("pair.test"));
        }

        // A route change (plain write + change message) reaches both.
        await using var next = await TestBackend.StartAsync("next");
        await db.KeyDeleteAsync(prefix + "frontend:pair.test");
        await first.RpushAsync(db, "pair.test", "pair", next.Url);
        await first.Services.GetRequiredService<Hipache.Aspire.RouteStore.RouteWriter>().PublishChangeAsync("pair.test");
        foreach (var router in new[] { first, second })
        {
            await Poll.UntilAsync(() => router.GetTextAsync("pair.test"), r => r.Body == "backend=next", TimeSpan.FromSeconds(30), "the change on every router");
        }
    }

    private static async Task<string> EchoAsync(ClientWebSocket socket, string text)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, Ct);
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, Ct);
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }
}
