using System.Collections.Concurrent;
using System.Net;
using Hipache.Aspire.Router.Forwarding;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Balancing policies through the real router: each one's distribution over many requests, the
/// hash policy's stickiness across routers and its minimal movement when a backend dies, and
/// settings changes served without waiting for the cache to expire.
/// </summary>
public sealed class BalancingTests(RedisFixture fixture) : RouterTestBase(fixture)
{
    private RouteWriter Writer => Router.Services.GetRequiredService<RouteWriter>();

    [Fact]
    public async Task Random_the_default_spreads_evenly()
    {
        var backends = await BackendsAsync("A", "B", "C");
        await Router.RpushAsync(Db, "random.lb.test", ["random", .. backends.Select(b => b.Url)]);
        var counts = await CountAsync("random.lb.test", 10_000);
        foreach (var name in new[] { "A", "B", "C" })
        {
            Assert.InRange(Share(counts, name), 1 / 3.0 - 0.03, 1 / 3.0 + 0.03);
        }
    }

    [Fact]
    public async Task Round_robin_takes_each_live_backend_in_turn()
    {
        var backends = await BackendsAsync("A", "B", "C");
        await Router.RpushAsync(Db, "rr.lb.test", ["rr", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("rr.lb.test", new Balancing(BalancingPolicy.RoundRobin, null, new Dictionary<string, int>()), Ct);
        var counts = await CountAsync("rr.lb.test", 3_000);
        foreach (var name in new[] { "A", "B", "C" })
        {
            Assert.InRange(counts.GetValueOrDefault(name), 995, 1005);
        }

        // A dead backend leaves the turn; the others share it exactly.
        await Db.SetAddAsync(Router.Prefix + "dead:rr.lb.test", 1);
        await Writer.PublishChangeAsync("rr.lb.test");
        await Poll.UntilAsync(async () => (await CountAsync("rr.lb.test", 30, parallel: 1)).GetValueOrDefault("B"), b => b == 0, null, "the dead backend to leave the turn");
        counts = await CountAsync("rr.lb.test", 2_000);
        Assert.Equal(0, counts.GetValueOrDefault("B"));
        Assert.InRange(counts.GetValueOrDefault("A"), 995, 1005);
    }

    [Fact]
    public async Task Weighted_follows_the_weights_and_an_unnamed_backend_weighs_one()
    {
        var backends = await BackendsAsync("A", "B", "C");
        await Router.RpushAsync(Db, "weighted.lb.test", ["weighted", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("weighted.lb.test", new Balancing(BalancingPolicy.Weighted, null, new Dictionary<string, int>
        {
            [backends[0].Url] = 6,
            [backends[1].Url] = 3,
        }), Ct);
        var counts = await CountAsync("weighted.lb.test", 10_000);
        Assert.InRange(Share(counts, "A"), 0.6 - 0.03, 0.6 + 0.03);
        Assert.InRange(Share(counts, "B"), 0.3 - 0.03, 0.3 + 0.03);
        Assert.InRange(Share(counts, "C"), 0.1 - 0.02, 0.1 + 0.02);
    }

    [Fact]
    public async Task Least_requests_sends_few_requests_to_a_slow_backend()
    {
        var fast = await BackendAsync("fast");
        var slow = await BackendAsync("slow", async context =>
        {
            await Task.Delay(100, context.RequestAborted);
            await context.Response.WriteAsync("backend=slow", context.RequestAborted);
        });
        await Router.RpushAsync(Db, "least.lb.test", "least", fast.Url, slow.Url);
        await Writer.SetBalancingAsync("least.lb.test", new Balancing(BalancingPolicy.LeastRequests, null, new Dictionary<string, int>()), Ct);
        var counts = await CountAsync("least.lb.test", 1_000, parallel: 8);
        // Random would give the slow one half of the requests.
        Assert.True(Share(counts, "fast") >= 0.85, $"fast got {Share(counts, "fast"):P0}");
        Assert.True(counts.GetValueOrDefault("slow") > 0, "the slow backend still serves when it is the less busy one");
    }

    [Fact]
    public async Task Hash_on_a_header_keeps_each_value_on_one_backend_and_moves_only_a_dead_backends_values()
    {
        var backends = await BackendsAsync("A", "B", "C");
        await Router.RpushAsync(Db, "hash.lb.test", ["hash", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("hash.lb.test", new Balancing(BalancingPolicy.Hash, "header:X-User", new Dictionary<string, int>()), Ct);
        using var client = Client();
        var users = Enumerable.Range(0, 300).Select(i => $"user-{i}").ToArray();
        var before = await PlaceAsync(client, "hash.lb.test", users, (request, user) => request.Headers.Add("X-User", user));
        Assert.Equal(before, await PlaceAsync(client, "hash.lb.test", users, (request, user) => request.Headers.Add("X-User", user)));
        foreach (var name in new[] { "A", "B", "C" })
        {
            Assert.InRange(before.Values.Count(v => v == name), 60, 140);
        }

        await Db.SetAddAsync(Router.Prefix + "dead:hash.lb.test", 1);
        await Writer.PublishChangeAsync("hash.lb.test");
        var onB = users.First(u => before[u] == "B");
        await Poll.UntilAsync(async () => (await PlaceAsync(client, "hash.lb.test", [onB], (request, user) => request.Headers.Add("X-User", user)))[onB], b => b != "B", null, "B's values to move");
        var after = await PlaceAsync(client, "hash.lb.test", users, (request, user) => request.Headers.Add("X-User", user));
        foreach (var user in users)
        {
            if (before[user] == "B")
            {
                Assert.NotEqual("B", after[user]);
            }
            else
            {
                Assert.Equal(before[user], after[user]);
            }
        }

        // Without the header: any live backend.
        var anonymous = await CountAsync("hash.lb.test", 300);
        Assert.True(anonymous.GetValueOrDefault("A") > 0 && anonymous.GetValueOrDefault("C") > 0);
    }

    [Fact]
    public async Task Hash_on_a_cookie_gives_every_router_the_same_answer()
    {
        var backends = await BackendsAsync("A", "B", "C", "D");
        await Router.RpushAsync(Db, "cookie.lb.test", ["cookie", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("cookie.lb.test", new Balancing(BalancingPolicy.Hash, "cookie:session", new Dictionary<string, int>()), Ct);
        await using var other = await RunningRouter.StartAsync(Fixture.Redis, prefix: Router.Prefix);
        var sessions = Enumerable.Range(0, 100).Select(i => $"s{i:D3}").ToArray();
        using var client = Client();
        using var otherClient = Client(other.Port);
        void WithCookie(HttpRequestMessage request, string session) => request.Headers.Add("Cookie", $"theme=dark; session={session}");
        var here = await PlaceAsync(client, "cookie.lb.test", sessions, WithCookie);
        Assert.Equal(here, await PlaceAsync(otherClient, "cookie.lb.test", sessions, WithCookie));
        Assert.True(here.Values.Distinct().Count() == 4, "100 sessions reach all four backends");
    }

    [Fact]
    public async Task A_policy_change_is_served_at_once_even_when_the_route_is_cached()
    {
        var backends = await BackendsAsync("A", "B");
        await Router.RpushAsync(Db, "change.lb.test", ["change", .. backends.Select(b => b.Url)]);
        Assert.Equal(200, (await Router.GetTextAsync("change.lb.test")).Status);

        // Written as a redis-cli user would (keyspace notification) where the store offers it,
        // else through the writer (change message).
        if (Fixture.Redis.SupportsKeyspaceNotifications)
        {
            await Db.HashSetAsync(Router.Prefix + "hipache-aspire:balance:change.lb.test", [new("policy", "weighted"), new("weight:" + backends[1].Url, "1000")]);
        }
        else
        {
            await Writer.SetBalancingAsync("change.lb.test", new Balancing(BalancingPolicy.Weighted, null, new Dictionary<string, int> { [backends[1].Url] = 1000 }), Ct);
        }

        await Poll.UntilAsync(async () => Share(await CountAsync("change.lb.test", 200), "B"), share => share > 0.97, null, "the weights to apply");
    }

    [Fact]
    public async Task Sticky_sessions_hold_across_routers_and_restarts_ignore_forged_cookies_and_move_off_a_dead_backend()
    {
        var backends = await BackendsAsync("A", "B", "C");
        await Router.RpushAsync(Db, "sticky.lb.test", ["sticky", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("sticky.lb.test", new Balancing(BalancingPolicy.Random, null, new Dictionary<string, int>(), "lb_sticky"), Ct);
        await Poll.UntilAsync(() => Task.FromResult(Router.Services.GetRequiredService<StickySessions>().IsReady), ready => ready, null, "the shared sticky key");
        using var client = Client();

        var (first, setCookie) = await StickyGetAsync(client, "sticky.lb.test", null);
        Assert.NotNull(setCookie);
        Assert.StartsWith("lb_sticky=", setCookie, StringComparison.Ordinal);
        Assert.Contains("; Path=/; HttpOnly; SameSite=Lax", setCookie, StringComparison.Ordinal);
        var cookie = setCookie["lb_sticky=".Length..setCookie.IndexOf(';', StringComparison.Ordinal)];
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal((first, null), await StickyGetAsync(client, "sticky.lb.test", cookie));
        }

        // Another router (or this one restarted) reads the same key from Redis.
        await using (var other = await RunningRouter.StartAsync(Fixture.Redis, prefix: Router.Prefix))
        {
            await Poll.UntilAsync(() => Task.FromResult(other.Services.GetRequiredService<StickySessions>().IsReady), ready => ready, null, "the other router's sticky key");
            using var otherClient = Client(other.Port);
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal((first, null), await StickyGetAsync(otherClient, "sticky.lb.test", cookie));
            }
        }

        // A forged or damaged cookie is ignored: the policy chooses and a good cookie is sent.
        var forged = (cookie[0] == 'A' ? 'B' : 'A') + cookie[1..];
        var (_, renewed) = await StickyGetAsync(client, "sticky.lb.test", forged);
        Assert.NotNull(renewed);
        foreach (var junk in new[] { "not-a-token", "%%%%", "a==b", new string('A', 27), new string('x', 300), "\"quoted\"" })
        {
            Assert.NotNull((await StickyGetAsync(client, "sticky.lb.test", junk)).SetCookie);
        }

        // Its backend dies: the client moves, gets the new backend's cookie and stays there.
        var index = Array.FindIndex(backends, b => b.Name == first);
        await Db.SetAddAsync(Router.Prefix + "dead:sticky.lb.test", index);
        await Writer.PublishChangeAsync("sticky.lb.test");
        var (moved, movedCookie) = await Poll.UntilAsync(() => StickyGetAsync(client, "sticky.lb.test", cookie), answer => answer.Backend != first, null, "the session to move off the dead backend");
        Assert.NotNull(movedCookie);
        var next = movedCookie["lb_sticky=".Length..movedCookie.IndexOf(';', StringComparison.Ordinal)];
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((moved, null), await StickyGetAsync(client, "sticky.lb.test", next));
        }
    }

    [Fact]
    public async Task Slow_start_ramps_a_recovered_backend_up_instead_of_giving_it_its_full_share_at_once()
    {
        var backends = await BackendsAsync("A", "B");
        await Router.RpushAsync(Db, "slow.lb.test", ["slow", .. backends.Select(b => b.Url)]);
        await Writer.SetBalancingAsync("slow.lb.test", new Balancing(BalancingPolicy.Random, null, new Dictionary<string, int>(), null, TimeSpan.FromSeconds(3)), Ct);

        // Backends this router has just met ramp up too (a new one among old ones should): let
        // both finish that first, so that only B's return is measured.
        Assert.Equal(200, (await Router.GetTextAsync("slow.lb.test")).Status);
        await RampsOverAsync("slow.lb.test", TimeSpan.FromSeconds(3));

        // B is marked dead, then comes back.
        var dead = Router.Prefix + "dead:slow.lb.test";
        await Db.SetAddAsync(dead, 1);
        await Writer.PublishChangeAsync("slow.lb.test");
        await Poll.UntilAsync(async () => (await CountAsync("slow.lb.test", 20, parallel: 1)).GetValueOrDefault("B"), b => b == 0, null, "B to be out");
        await Db.KeyDeleteAsync(dead);
        await Writer.PublishChangeAsync("slow.lb.test");
        await Poll.UntilAsync(async () => (await CountAsync("slow.lb.test", 20, parallel: 1)).GetValueOrDefault("B"), b => b > 0, null, "B to be back");

        // Early in the ramp B gets a small share (its factor starts at 0.1; random would give half).
        var early = await CountAsync("slow.lb.test", 100);
        Assert.True(Share(early, "B") < 0.35, $"B got {Share(early, "B"):P0} right after coming back");

        // After the ramp, its full share.
        await RampsOverAsync("slow.lb.test", TimeSpan.FromSeconds(3));
        var late = await CountAsync("slow.lb.test", 2_000);
        Assert.InRange(Share(late, "B"), 0.5 - 0.05, 0.5 + 0.05);
    }

    /// <summary>Until every backend of the host's cached route has been back (or known) for <paramref name="slowStart"/>.</summary>
    private Task<bool> RampsOverAsync(string host, TimeSpan slowStart)
    {
        var cache = Router.Services.GetRequiredService<Hipache.Aspire.Router.Routing.RouteCache>();
        return Poll.UntilAsync(
            () => Task.FromResult(cache.TryGetFresh(host, out var hit) && hit.Route is { } route
                && route.Backends.All(b => Environment.TickCount64 - b.LiveSince >= slowStart.TotalMilliseconds)),
            over => over,
            slowStart * 3,
            "every backend's slow start to end");
    }

    private static async Task<(string Backend, string? SetCookie)> StickyGetAsync(HttpClient client, string host, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = host;
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", $"other=1; lb_sticky={cookie}");
        }

        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookie = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.SingleOrDefault(v => v.StartsWith("lb_sticky=", StringComparison.Ordinal)) : null;
        return ((await response.Content.ReadAsStringAsync(Ct))["backend=".Length..], setCookie);
    }

    private async Task<TestBackend[]> BackendsAsync(params string[] names)
    {
        var started = new TestBackend[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            started[i] = await BackendAsync(names[i]);
        }

        return started;
    }

    /// <summary>Kept-alive connections (the router's test client opens one per request); cookies only as each test sends them.</summary>
    private HttpClient Client(int? port = null) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{port ?? Router.Port}"),
    };

    /// <summary>How many of <paramref name="requests"/> each backend answered, <paramref name="parallel"/> at a time.</summary>
    private async Task<Dictionary<string, int>> CountAsync(string host, int requests, int parallel = 16)
    {
        using var client = Client();
        var counts = new ConcurrentDictionary<string, int>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < requests)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/");
                request.Headers.Host = host;
                using var response = await client.SendAsync(request, Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var body = await response.Content.ReadAsStringAsync(Ct);
                counts.AddOrUpdate(body["backend=".Length..], 1, (_, n) => n + 1);
            }
        }));
        return new Dictionary<string, int>(counts);
    }

    /// <summary>The backend that answered each value's request.</summary>
    private static async Task<Dictionary<string, string>> PlaceAsync(HttpClient client, string host, string[] values, Action<HttpRequestMessage, string> set)
    {
        var placed = new Dictionary<string, string>();
        foreach (var value in values)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Host = host;
            set(request, value);
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            placed[value] = (await response.Content.ReadAsStringAsync(Ct))["backend=".Length..];
        }

        return placed;
    }

    private static double Share(Dictionary<string, int> counts, string name) => counts.GetValueOrDefault(name) / (double)counts.Values.Sum();
}
