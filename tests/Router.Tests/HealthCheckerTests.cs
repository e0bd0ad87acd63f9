using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The built-in active health checker against real backends: HTTP and TCP probes, fall and rise,
/// a backend that stops answering (what a SIGSTOPped process looks like to a probe: the kernel
/// still accepts the connection, nothing answers), leases between two checkers, and Hipache's
/// heartbeat. Each test has a Redis of its own: <c>hchecker_ping</c> is global and would switch
/// the other tests' routers to active mode.
/// </summary>
public sealed class HealthCheckerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromMilliseconds(150);
    private const int Fall = 2;

    private static Dictionary<string, string?> Checker(string mode = "Http") => new()
    {
        ["Router:HealthCheck:Enabled"] = "true",
        ["Router:HealthCheck:Mode"] = mode,
        ["Router:HealthCheck:Interval"] = Interval.ToString(),
        ["Router:HealthCheck:Timeout"] = ProbeTimeout.ToString(),
        ["Router:HealthCheck:Fall"] = Fall.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Router:HealthCheck:Rise"] = "2",
        ["Router:HealthCheck:Jitter"] = "0",
        ["Router:HealthCheck:TableRefresh"] = "00:00:00.200",
    };

    [Fact]
    public async Task An_unreachable_backend_is_marked_dead_with_a_ttl_and_cleared_when_it_answers_again()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var live = await TestBackend.StartAsync("live");
        var port = FreePort();
        await using var router = await RunningRouter.StartAsync(redis, Checker());
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var dead = router.Prefix + "dead:hc.test";
        await router.RpushAsync(db, "hc.test", "hc", live.Url, $"http://127.0.0.1:{port}");

        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => marked, TimeSpan.FromSeconds(10), "the unreachable backend to be marked dead");
        Assert.False(await db.SetContainsAsync(dead, 0));
        Assert.True(await db.KeyTimeToLiveAsync(dead) is { } ttl && ttl > TimeSpan.Zero, "the mark expires if the checker goes away");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "backend=live"), await router.GetTextAsync("hc.test"));
        }

        // The last probe of each backend, for the admin API's frontend view.
        var recorded = (await db.HashGetAllAsync(router.Prefix + $"hipache-aspire:health:http://127.0.0.1:{port}")).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal("0", recorded["healthy"]);
        Assert.Equal("1", (await db.HashGetAllAsync(router.Prefix + "hipache-aspire:health:" + live.Url)).First(e => e.Name == "healthy").Value.ToString());

        var heartbeat = (long)await db.StringGetAsync("hchecker_ping");
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - heartbeat, -2, 10);

        await using var revived = await TestBackend.StartAsync("revived", port: port);
        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => !marked, TimeSpan.FromSeconds(10), "the mark to be cleared after two good probes");
        await Poll.UntilAsync(async () => (await router.GetTextAsync("hc.test")).Body, body => body == "backend=revived", TimeSpan.FromSeconds(10), "the revived backend to get traffic again");
    }

    [Fact]
    public async Task A_backend_that_accepts_but_never_answers_fails_its_http_probe_within_interval_times_fall_plus_timeout()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var live = await TestBackend.StartAsync("live");
        var hung = new TaskCompletionSource();
        await using var paused = await TestBackend.StartAsync("paused", async context => await hung.Task.WaitAsync(context.RequestAborted));
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await using var router = await RunningRouter.StartAsync(redis, Checker());
        // Let the checker see the backend healthy first, then "pause" it: a probe after this point times out.
        await router.RpushAsync(db, "paused.test", "paused", live.Url, paused.Url);
        var dead = router.Prefix + "dead:paused.test";

        var clock = Stopwatch.StartNew();
        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => marked, TimeSpan.FromSeconds(10), "the silent backend to be marked dead");
        // Fall probes one interval apart, the last one waiting out its timeout, plus one table
        // scan (200 ms) before the first probe; tripled for a loaded test machine.
        var bound = (Interval * Fall + ProbeTimeout + TimeSpan.FromMilliseconds(200)) * 3;
        Assert.True(clock.Elapsed < bound, $"detected after {clock.Elapsed.TotalMilliseconds:F0} ms, bound {bound.TotalMilliseconds:F0} ms");
        Assert.False(await db.SetContainsAsync(dead, 0));
        hung.SetResult();
    }

    [Fact]
    public async Task A_process_stopped_with_SIGSTOP_is_marked_dead_within_interval_times_fall_plus_timeout_and_back_after_SIGCONT()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var live = await TestBackend.StartAsync("live");
        // A real process to pause: a router process, whose management listener answers /alive.
        await using var paused = await RouterProcesses.StartAsync(redis, $"p{Guid.NewGuid():N}:");
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await using var router = await RunningRouter.StartAsync(redis, Checker());
        var stoppedUrl = $"http://127.0.0.1:{paused.ManagementPort}";
        await router.RpushAsync(db, "sigstop.test", "sigstop", live.Url, stoppedUrl);
        await router.Services.GetRequiredService<RouteWriter>().SetBalancingAsync("sigstop.test", new Balancing(BalancingPolicy.Random, null, new Dictionary<string, int>(), HealthPath: "/alive"), Ct);
        var health = router.Prefix + "hipache-aspire:health:" + Balancing.ProbeTarget(stoppedUrl, "/alive");
        await Poll.UntilAsync(async () => (string?)await db.HashGetAsync(health, "healthy"), healthy => healthy == "1", TimeSpan.FromSeconds(10), "a good probe of the running process");

        var dead = router.Prefix + "dead:sigstop.test";
        await paused.SignalAsync("STOP", TestContext.Current.CancellationToken);
        try
        {
            var clock = Stopwatch.StartNew();
            await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => marked, TimeSpan.FromSeconds(10), "the stopped process to be marked dead");
            var bound = (Interval * Fall + ProbeTimeout) * 3;
            Assert.True(clock.Elapsed < bound, $"detected after {clock.Elapsed.TotalMilliseconds:F0} ms, bound {bound.TotalMilliseconds:F0} ms (interval x fall + timeout, tripled for a loaded machine)");
        }
        finally
        {
            await paused.SignalAsync("CONT", TestContext.Current.CancellationToken);
        }

        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => !marked, TimeSpan.FromSeconds(10), "the mark to be cleared once the process runs again");
    }

    [Fact]
    public async Task A_frontend_can_name_its_own_probe_path_and_a_shared_backend_is_judged_per_path()
    {
        await using var redis = await TestRedis.StartAsync();
        await using var live = await TestBackend.StartAsync("live");
        await using var partial = await TestBackend.StartAsync("partial", context =>
        {
            // Serves its pages, but its own health page says it is not ready.
            context.Response.StatusCode = context.Request.Path == "/healthz" ? 503 : 200;
            return Task.CompletedTask;
        });
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await using var router = await RunningRouter.StartAsync(redis, Checker());
        await router.RpushAsync(db, "strict.test", "strict", live.Url, partial.Url);
        await router.RpushAsync(db, "lenient.test", "lenient", live.Url, partial.Url);
        await router.Services.GetRequiredService<RouteWriter>().SetBalancingAsync("strict.test", new Balancing(BalancingPolicy.Random, null, new Dictionary<string, int>(), HealthPath: "/healthz"), Ct);

        await Poll.UntilAsync(() => db.SetContainsAsync(router.Prefix + "dead:strict.test", 1), marked => marked, TimeSpan.FromSeconds(10), "the frontend whose path fails to mark its backend");
        // Several cycles later the frontend probing "/" still has it.
        await Poll.UntilAsync(async () => (string?)await db.HashGetAsync(router.Prefix + "hipache-aspire:health:" + partial.Url, "healthy"), healthy => healthy == "1", TimeSpan.FromSeconds(10), "the default path's probe");
        Assert.False(await db.SetContainsAsync(router.Prefix + "dead:lenient.test", 1));
    }

    [Fact]
    public async Task Tcp_probes_only_ask_for_a_connection()
    {
        await using var redis = await TestRedis.StartAsync();
        var hung = new TaskCompletionSource();
        await using var silent = await TestBackend.StartAsync("silent", async context => await hung.Task.WaitAsync(context.RequestAborted));
        var port = FreePort();
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        await using var router = await RunningRouter.StartAsync(redis, Checker("Tcp"));
        await router.RpushAsync(db, "tcp.test", "tcp", silent.Url, $"http://127.0.0.1:{port}");
        var dead = router.Prefix + "dead:tcp.test";

        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => marked, TimeSpan.FromSeconds(10), "the refusing port to be marked dead");
        // The silent backend, which accepts connections, passes probe after probe: wait for a
        // good probe more than Fall + 1 intervals later (a mark, had any run of Fall failed,
        // would still be there: its TTL is at least 10 s).
        var after = DateTimeOffset.UtcNow + Interval * (Fall + 1);
        await Poll.UntilAsync(
            async () => ProbeResult.FromHash(await db.HashGetAllAsync(router.Prefix + "hipache-aspire:health:" + silent.Url)),
            probe => probe is { Healthy: true } && probe.CheckedAt > after,
            TimeSpan.FromSeconds(10),
            "good TCP probes of the silent backend");
        Assert.False(await db.SetContainsAsync(dead, 0), "a backend that accepts connections passes a TCP probe");

        hung.SetResult();
    }

    [Fact]
    public async Task Two_checkers_share_the_backends_through_leases_and_never_probe_one_twice_an_interval()
    {
        await using var redis = await TestRedis.StartAsync();
        var probes = new List<long>();
        await using var counted = await TestBackend.StartAsync("counted", async context =>
        {
            if (context.Request.Headers.UserAgent.ToString().Contains("hipache-aspire-checker", StringComparison.Ordinal))
            {
                lock (probes)
                {
                    probes.Add(Environment.TickCount64);
                }
            }

            await context.Response.WriteAsync("ok", context.RequestAborted);
        });
        await using var other = await TestBackend.StartAsync("other");
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var prefix = $"t{Guid.NewGuid():N}:";
        await db.ListRightPushAsync(prefix + "frontend:lease.test", ["lease", counted.Url, other.Url]);
        await using var first = await RunningRouter.StartAsync(redis, Checker(), prefix);
        await using var second = await RunningRouter.StartAsync(redis, Checker(), prefix);

        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        long[] seen;
        lock (probes)
        {
            seen = [.. probes];
        }

        // One prober: a probe per interval (~15 in 3 s); two would make ~30.
        Assert.InRange(seen.Length, 5, 20);
        var gaps = seen.Zip(seen.Skip(1), (a, b) => b - a).ToArray();
        // Two probers would put about every other gap under half an interval. One prober's probe
        // delayed on a loaded machine makes one short gap after a long one (seen in CI: ...352,28,352...).
        Assert.True(gaps.Count(g => g < Interval.TotalMilliseconds / 2) <= 4, $"probes closer than half an interval: {string.Join(",", gaps)}");
        Assert.NotNull((string?)await db.StringGetAsync(prefix + "hipache-aspire:check:" + counted.Url));
    }

    [Fact]
    public async Task Bad_checker_settings_stop_the_router_at_start_naming_each_one()
    {
        await using var redis = await TestRedis.StartAsync();
        var settings = Checker();
        settings["Router:HealthCheck:Timeout"] = "00:00:01";
        settings["Router:HealthCheck:Fall"] = "0";
        settings["Router:HealthCheck:Path"] = "health";
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => RunningRouter.StartAsync(redis, settings));
        Assert.Contains("Router:HealthCheck:Interval must be at least 100 ms and Router:HealthCheck:Timeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("Router:HealthCheck:Fall and Rise must be 1-100", error.Message, StringComparison.Ordinal);
        Assert.Contains("Router:HealthCheck:Path must be an origin-form path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_h2c_backend_is_probed_over_http2()
    {
        await using var redis = await TestRedis.StartAsync();
        // HTTP/2 only, as a gRPC server may be: an HTTP/1.1 probe of it fails (Kestrel answers
        // 400), an HTTP/2 one passes. Listed twice: as h2c:// and as plain http://.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2));
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync("ok"));
        await app.StartAsync(Ct);
        var port = new Uri(app.Urls.First()).Port;

        await using var router = await RunningRouter.StartAsync(redis, Checker());
        await using var connection = await redis.ConnectAsync();
        var db = connection.GetDatabase();
        var dead = router.Prefix + "dead:h2hc.test";
        await router.RpushAsync(db, "h2hc.test", "h2", $"h2c://127.0.0.1:{port}", $"http://127.0.0.1:{port}");

        await Poll.UntilAsync(() => db.SetContainsAsync(dead, 1), marked => marked, TimeSpan.FromSeconds(10), "the http:// listing (HTTP/1.1 probes) to be marked dead");
        var recorded = await Poll.UntilAsync(() => db.HashGetAsync(router.Prefix + $"hipache-aspire:health:h2c://127.0.0.1:{port}", "healthy"), v => v.HasValue, TimeSpan.FromSeconds(10), "a probe of the h2c backend");
        Assert.Equal("1", recorded.ToString());
        Assert.False(await db.SetContainsAsync(dead, 0));
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
