using System.Net;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat sections 3, 4 and 11 through the real router, real Redis and real backends.</summary>
public sealed class RoutingTests(RedisFixture fixture) : RouterTestBase(fixture)
{
    [Fact]
    public async Task C4_exact_beats_wildcard_and_deeper_wildcards_win()
    {
        var a = await BackendAsync("A");
        var b = await BackendAsync("B");
        var c = await BackendAsync("C");
        var d = await BackendAsync("D");
        await Router.RpushAsync(Db, "*.foo.bar", "a", a.Url);
        await Router.RpushAsync(Db, "foo.bar", "b", b.Url);
        await Router.RpushAsync(Db, "pipo.foo.bar", "c", c.Url);
        await Router.RpushAsync(Db, "*.baz.foo.bar", "d", d.Url);

        Assert.Equal((200, "backend=A"), await Router.GetTextAsync("test.foo.bar"));
        Assert.Equal((200, "backend=B"), await Router.GetTextAsync("foo.bar"));
        Assert.Equal((200, "backend=C"), await Router.GetTextAsync("pipo.foo.bar"));
        Assert.Equal((200, "backend=D"), await Router.GetTextAsync("qux.baz.foo.bar"));
        Assert.Equal((200, "backend=A"), await Router.GetTextAsync("qux.bix.foo.bar"));
        Assert.Equal(400, (await Router.GetTextAsync("qux.bix.bar.foo")).Status);
    }

    [Fact]
    public async Task C5_wildcards_longer_than_five_labels_never_match()
    {
        var f = await BackendAsync("F");
        var g = await BackendAsync("G");
        var e = await BackendAsync("E");
        await Router.RpushAsync(Db, "*.foo.bar.baz.qux.quux", "f", f.Url);
        await Router.RpushAsync(Db, "*.quuux.foo.bar.baz.qux.quux", "g", g.Url);
        await Router.RpushAsync(Db, "foo.bar.baz.qux.quux", "e", e.Url);

        Assert.Equal((200, "backend=F"), await Router.GetTextAsync("too.deep.quuux.foo.bar.baz.qux.quux"));
        Assert.Equal((200, "backend=F"), await Router.GetTextAsync("too.deep.foo.bar.baz.qux.quux"));
        Assert.Equal((200, "backend=E"), await Router.GetTextAsync("foo.bar.baz.qux.quux"));
    }

    [Fact]
    public async Task C2_C3_C8_unknown_hosts_get_400_with_the_error_page()
    {
        var a = await BackendAsync("A");
        await Router.RpushAsync(Db, "*.foo", "a", a.Url);
        Assert.Equal((200, "backend=A"), await Router.GetTextAsync("bar.foo"));

        using var response = await Router.GetAsync("foo.bar");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("No Application Configured", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        Assert.Equal(400, (await Router.GetTextAsync("foo")).Status);
    }

    [Fact]
    public async Task C17_ping_answers_ok_without_the_store()
    {
        Assert.Equal((200, "ok"), await Router.GetTextAsync("__ping__"));
        Assert.Equal((200, "ok"), await Router.GetTextAsync("__ping__:8080"));
    }

    [Fact]
    public async Task C7_random_choice_reaches_every_backend()
    {
        var names = new[] { "one", "two", "three" };
        var backends = new List<TestBackend>();
        foreach (var name in names)
        {
            backends.Add(await BackendAsync(name));
        }

        await Router.RpushAsync(Db, "c7.test", ["c7", .. backends.Select(b => b.Url)]);
        var seen = new HashSet<string>();
        for (var i = 0; i < 60 && seen.Count < 3; i++)
        {
            var (status, body) = await Router.GetTextAsync("c7.test");
            Assert.Equal(200, status);
            seen.Add(body);
        }

        Assert.Equal(names.Select(n => $"backend={n}").ToHashSet(), seen);
    }

    [Fact]
    public async Task Section2_2_identifier_only_frontend_is_502_and_does_not_fall_through()
    {
        var a = await BackendAsync("A");
        await Router.RpushAsync(Db, "*.empty.test", "wild", a.Url);
        await Router.RpushAsync(Db, "x.empty.test", "only-identifier");
        Assert.Equal(502, (await Router.GetTextAsync("x.empty.test")).Status);
    }

    [Fact]
    public async Task C9_refused_backend_is_marked_dead_and_requests_go_to_the_live_one()
    {
        var live = await BackendAsync("live");
        var closed = await BackendAsync("closed");
        var closedUrl = closed.Url;
        await StopAsync(closed);

        await Router.RpushAsync(Db, "c9.test", "c9", live.Url, closedUrl);
        for (var i = 0; i < 20; i++)
        {
            // Retries on connect failure (Q11: no body, nothing reached the backend) hide the dead one.
            Assert.Equal((200, "backend=live"), await Router.GetTextAsync("c9.test"));
        }

        var dead = await Poll.UntilAsync(() => Db.SetMembersAsync(Router.Prefix + "dead:c9.test"), m => m.Length > 0, what: "the dead mark");
        Assert.Equal("1", dead.Single().ToString());
        Assert.True(await Db.KeyTimeToLiveAsync(Router.Prefix + "dead:c9.test") is { TotalSeconds: > 0 and <= 30 });
    }

    [Fact]
    public async Task Section2_5_dead_message_has_hipache_format()
    {
        var live = await BackendAsync("live");
        var closed = await BackendAsync("closed");
        var closedUrl = closed.Url;
        await StopAsync(closed);

        var messages = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var subscriber = Redis.GetSubscriber();
        await subscriber.SubscribeAsync(StackExchange.Redis.RedisChannel.Literal("dead"), (_, m) => messages.Enqueue(m.ToString()));
        await Router.RpushAsync(Db, "msg.test", "msg", closedUrl, live.Url);
        await Poll.UntilAsync(async () => { await Router.GetTextAsync("msg.test"); return messages.Count; }, n => n > 0, what: "a dead message");
        Assert.Contains($"msg.test;{closedUrl}/;0;2", messages);
    }

    [Fact]
    public async Task Live_change_through_the_change_channel_is_served_at_once()
    {
        var first = await BackendAsync("first");
        var second = await BackendAsync("second");
        var writer = Router.Services.GetRequiredService<RouteWriter>();
        await writer.ReplaceFrontendAsync("live.test", "app", [first.Url], TestContext.Current.CancellationToken);
        Assert.Equal((200, "backend=first"), await Router.GetTextAsync("live.test"));

        await writer.ReplaceFrontendAsync("live.test", "app", [second.Url], TestContext.Current.CancellationToken);
        await Poll.UntilAsync(() => Router.GetTextAsync("live.test"), r => r.Body == "backend=second", TimeSpan.FromSeconds(30), "the new backend");
    }

    [Fact]
    public async Task Live_change_by_plain_redis_writes_is_served_via_keyspace_notifications()
    {
        Assert.SkipUnless(Fixture.Redis.SupportsKeyspaceNotifications, "Garnet has no keyspace notifications; the change channel and TTL cover it.");
        var a = await BackendAsync("A");
        Assert.Equal(400, (await Router.GetTextAsync("ks.test")).Status);

        // Plain RPUSH after a cached "not found": with a 10-minute cache TTL, only a keyspace
        // notification can tell the router.
        await Router.RpushAsync(Db, "ks.test", "ks", a.Url);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Poll.UntilAsync(() => Router.GetTextAsync("ks.test"), r => r.Status == 200, TimeSpan.FromSeconds(30), "the new host");
        TestContext.Current.SendDiagnosticMessage($"keyspace propagation seen after {watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Q9_forwarding_headers_are_set_by_the_router_and_host_is_kept()
    {
        var a = await BackendAsync("A");
        await Router.RpushAsync(Db, "hdr.test", "hdr", a.Url);
        using var response = await Router.GetAsync("Hdr.Test:1234", "/p?q=1", r =>
        {
            r.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");
            r.Headers.TryAddWithoutValidation("X-Real-IP", "6.6.6.6");
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Hdr.Test:1234", response.Headers.GetValues("x-seen-host").Single());
        Assert.Equal("127.0.0.1", response.Headers.GetValues("x-seen-x-forwarded-for").Single());
        Assert.Equal("127.0.0.1", response.Headers.GetValues("x-seen-x-real-ip").Single());
        Assert.Equal("http", response.Headers.GetValues("x-seen-x-forwarded-proto").Single());
        Assert.Equal(Router.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Headers.GetValues("x-seen-x-forwarded-port").Single());
        Assert.Equal("/p?q=1", response.Headers.GetValues("x-seen-path").Single());
        Assert.False(response.Headers.Contains("x-seen-x-forwarded-host"));
    }

    [Fact]
    public async Task Management_endpoints_live_on_their_own_port_only()
    {
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Router.ManagementPort}") };
        var health = await management.GetAsync("/health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains("redis", await health.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        // On the routed port /health is just a path of an unknown host.
        Assert.Equal(400, (await Router.GetTextAsync("unknown.test", "/health")).Status);
    }
}
