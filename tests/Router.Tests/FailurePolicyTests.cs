using System.Net;
using System.Net.Sockets;
using System.Text;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 4.3, 4.4 and section 9 (Q3, Q5, Q11, Q18, Q19, Q21, Q25), in both modes where they differ.</summary>
public sealed class FailurePolicyTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private Task<RunningRouter> RouterAsync(bool hipache = false, params (string Key, string Value)[] settings) =>
        StartRouterAsync(new Dictionary<string, string?> { ["Router:Compatibility"] = hipache ? "Hipache" : "Safe" }, settings);

    private Task<TestBackend> BackendAsync(string name, RequestDelegate? handler = null) => StartBackendAsync(name, handler);

    private static RequestDelegate Status(int status) => context =>
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsync($"status {status}");
    };

    private Task<StackExchange.Redis.RedisValue[]> DeadSet(RunningRouter router, string key) => Db.SetMembersAsync(router.Prefix + "dead:" + key);

    /// <summary>Marks positions of <paramref name="key"/> dead the Hipache way (another router or a checker), for a minute.</summary>
    private async Task MarkDeadAsync(RunningRouter router, string key, params StackExchange.Redis.RedisValue[] indexes)
    {
        await Db.SetAddAsync(router.Prefix + "dead:" + key, indexes);
        await Db.KeyExpireAsync(router.Prefix + "dead:" + key, TimeSpan.FromMinutes(1));
    }

    /// <summary>Q19: Safe mode serves from a backend marked dead; Hipache mode answers 502.</summary>
    private static void AssertPanicAnswer(bool hipache, (int Status, string Body) answer)
    {
        if (hipache)
        {
            Assert.Equal(502, answer.Status);
        }
        else
        {
            Assert.Equal(200, answer.Status);
            Assert.StartsWith("backend=", answer.Body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task C10_Q3_a_501_is_relayed_and_ejects_only_in_hipache_mode()
    {
        foreach (var hipache in new[] { false, true })
        {
            var router = await RouterAsync(hipache, ("Router:RetryOnError", "0"));
            var healthy = await BackendAsync("healthy");
            var unimplemented = await BackendAsync("501", Status(501));
            await router.RpushAsync(Db, "c10.test", "c10", healthy.Url, unimplemented.Url);

            var statuses = new List<int>();
            for (var i = 0; i < 20; i++)
            {
                statuses.Add((await router.GetTextAsync("c10.test")).Status);
            }

            Assert.Contains(501, statuses);
            if (hipache)
            {
                // The first 501 ejects the backend: once its mark is written (the client may have
                // its 501 a moment before), everything goes to the healthy one.
                Assert.Single(await Poll.UntilAsync(() => DeadSet(router, "c10.test"), m => m.Length > 0, what: "the 501 mark"));
                for (var i = 0; i < 10; i++)
                {
                    Assert.Equal(200, (await router.GetTextAsync("c10.test")).Status);
                }
            }
            else
            {
                Assert.Empty(await DeadSet(router, "c10.test"));
            }
        }
    }

    [Fact]
    public async Task C11_Q3_a_502_ejects_after_three_in_a_row_in_safe_mode_and_at_once_in_hipache_mode()
    {
        foreach (var (hipache, expectedFailures) in new[] { (false, 3), (true, 1) })
        {
            var router = await RouterAsync(hipache, ("Router:RetryOnError", "0"));
            var healthy = await BackendAsync("healthy");
            var broken = await BackendAsync("502", Status(502));
            await router.RpushAsync(Db, "c11.test", "c11", healthy.Url, broken.Url);

            var failures = 0;
            for (var i = 0; i < 200 && failures < expectedFailures; i++)
            {
                if ((await router.GetTextAsync("c11.test")).Status == 502)
                {
                    failures++;
                }
            }

            Assert.Equal(expectedFailures, failures);
            await Poll.UntilAsync(() => DeadSet(router, "c11.test"), m => m.Length == 1, what: "the 502 mark");
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(200, (await router.GetTextAsync("c11.test")).Status);
            }
        }
    }

    [Fact]
    public async Task Q1_Q2_failure_statuses_are_configurable_and_a_503_with_retry_after_never_ejects()
    {
        var router = await RouterAsync(false, ("Router:RetryOnError", "0"), ("Router:FailureStatuses", "500,503"), ("Router:EjectAfter", "1"));
        var healthy = await BackendAsync("healthy");
        var maintenance = await BackendAsync("maintenance", context =>
        {
            context.Response.StatusCode = 503;
            context.Response.Headers.RetryAfter = "120";
            return Task.CompletedTask;
        });
        var crashing = await BackendAsync("crashing", Status(500));
        var db = Db;
        await router.RpushAsync(db, "q2.test", "q2", healthy.Url, maintenance.Url);
        await router.RpushAsync(db, "q1.test", "q1", healthy.Url, crashing.Url);

        var saw503 = false;
        for (var i = 0; i < 30; i++)
        {
            saw503 |= (await router.GetTextAsync("q2.test")).Status == 503;
        }

        Assert.True(saw503);
        Assert.Empty(await DeadSet(router, "q2.test"));

        await Poll.UntilAsync(() => router.GetTextAsync("q1.test"), r => r.Status == 500, what: "a 500");
        Assert.Single(await Poll.UntilAsync(() => DeadSet(router, "q1.test"), m => m.Length > 0, what: "the 500 mark"));
    }

    [Fact]
    public async Task Q13_a_dead_mark_follows_its_backend_when_the_list_is_edited_behind_it()
    {
        var router = await RouterAsync(false, ("Router:RetryOnError", "0"));
        var first = await BackendAsync("first");
        var live = await BackendAsync("live");
        var stopped = await TestBackend.StartAsync("stopped");
        var stoppedUrl = stopped.Url;
        await stopped.DisposeAsync();
        var db = Db;
        var key = router.Prefix + "frontend:q13.test";
        await router.RpushAsync(db, "q13.test", "q13", first.Url, stoppedUrl, live.Url);

        // Another router (or a checker) marks index 1, the stopped backend, the Hipache way.
        await MarkDeadAsync(router, "q13.test", 1);
        await Redis.GetSubscriber().PublishAsync(StackExchange.Redis.RedisChannel.Literal("dead"), $"q13.test;{stoppedUrl}/;1;3");

        // Then a script removes the first backend with plain LREM: index 1 now means "live".
        await db.ListRemoveAsync(key, first.Url);
        await router.Services.GetRequiredService<Hipache.Aspire.RouteStore.RouteWriter>().PublishChangeAsync("q13.test");

        // Read positionally, the mark would now exclude the live backend and send everything to
        // the stopped one (502 with no retries). Following the URL, every request succeeds.
        await Poll.UntilAsync(() => router.GetTextAsync("q13.test"), r => r.Status == 200, what: "the edited route");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "backend=live"), await router.GetTextAsync("q13.test"));
        }
    }

    [Fact]
    public async Task Q3_the_last_live_backend_is_never_ejected_in_safe_mode()
    {
        var router = await RouterAsync(false, ("Router:RetryOnError", "0"));
        var broken = await BackendAsync("502", Status(502));
        var other = await BackendAsync("504", Status(504));
        await router.RpushAsync(Db, "last.test", "last", broken.Url, other.Url);
        for (var i = 0; i < 20; i++)
        {
            await router.GetTextAsync("last.test");
        }

        Assert.True((await DeadSet(router, "last.test")).Length <= 1, "at most one of two failing backends may be ejected");
    }

    [Fact]
    public async Task Q19_when_every_backend_is_marked_dead_safe_mode_tries_them_and_hipache_mode_answers_502()
    {
        foreach (var hipache in new[] { false, true })
        {
            var router = await RouterAsync(hipache);
            var a = await BackendAsync("A");
            var b = await BackendAsync("B");
            await router.RpushAsync(Db, "panic.test", "panic", a.Url, b.Url);
            await MarkDeadAsync(router, "panic.test", 0, 1);

            AssertPanicAnswer(hipache, await router.GetTextAsync("panic.test"));
        }
    }

    [Fact]
    public async Task Q19_once_every_live_backend_refused_safe_mode_retries_on_a_marked_one_and_hipache_mode_answers_502()
    {
        foreach (var hipache in new[] { false, true })
        {
            var router = await RouterAsync(hipache);
            var a = await BackendAsync("A");
            var b = await BackendAsync("B");
            var down = await TestBackend.StartAsync("down");
            var downUrl = down.Url;
            await down.DisposeAsync();
            // A and B were ejected earlier (and are back); the one backend left live is down.
            await router.RpushAsync(Db, "ejected.test", "ejected", a.Url, b.Url, downUrl);
            await MarkDeadAsync(router, "ejected.test", 0, 1);

            for (var i = 0; i < 5; i++)
            {
                AssertPanicAnswer(hipache, await router.GetTextAsync("ejected.test"));
            }
        }
    }

    [Fact]
    public async Task Q11_a_refused_connect_is_retried_with_the_body_intact_and_a_request_whose_body_was_sent_is_never_replayed()
    {
        var router = await RouterAsync(false, ("Router:RetryOnError", "3"));
        var live = await BackendAsync("live", async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync("got:" + await reader.ReadToEndAsync());
        });
        var closed = await TestBackend.StartAsync("closed");
        var closedUrl = closed.Url;
        await closed.DisposeAsync();
        await router.RpushAsync(Db, "q11.test", "q11", closedUrl, live.Url);

        // Dead marks would hide the closed backend after the first failure: clear them each time,
        // so that many POSTs pick it first. A refused connect reads no body byte: every POST is
        // retried on the live backend and arrives whole.
        var payload = new string('p', 100_000);
        for (var i = 0; i < 20; i++)
        {
            await Db.KeyDeleteAsync(router.Prefix + "dead:q11.test");
            await router.Services.GetRequiredService<Hipache.Aspire.RouteStore.RouteWriter>().PublishChangeAsync("q11.test");
            using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(payload, Encoding.UTF8) };
            post.Headers.Host = "q11.test";
            using var response = await router.Client.SendAsync(post, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("got:" + payload, await response.Content.ReadAsStringAsync(Ct));
        }

        // A backend that takes part of the body and dies: the rest of the body is gone from the
        // client's stream, so the request must not go to the live backend truncated.
        var taker = await BackendAsync("taker", async context =>
        {
            var buffer = new byte[16];
            await context.Request.Body.ReadAtLeastAsync(buffer, 1, throwOnEndOfStream: false, context.RequestAborted);
            context.Abort();
        });
        await router.RpushAsync(Db, "q11-sent.test", "q11-sent", taker.Url, live.Url);
        var sawSentBodyFail = false;
        for (var i = 0; i < 40 && !sawSentBodyFail; i++)
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(payload, Encoding.UTF8) };
            post.Headers.Host = "q11-sent.test";
            using var response = await router.Client.SendAsync(post, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            if (response.StatusCode == HttpStatusCode.BadGateway)
            {
                sawSentBodyFail = true;
            }
            else
            {
                Assert.Equal("got:" + payload, text);
            }
        }

        Assert.True(sawSentBodyFail, "a POST whose body reached a failing backend must get 502, not be replayed elsewhere");

        for (var i = 0; i < 20; i++)
        {
            await Db.KeyDeleteAsync(router.Prefix + "dead:q11.test");
            await router.Services.GetRequiredService<Hipache.Aspire.RouteStore.RouteWriter>().PublishChangeAsync("q11.test");
            Assert.Equal((200, "got:"), await router.GetTextAsync("q11.test"));
        }
    }

    [Fact]
    public async Task Q18_a_silent_backend_gets_504_with_the_504_page_after_tcpTimeout()
    {
        var router = await RouterAsync(false, ("Router:TcpTimeout", "00:00:01"));
        var silent = await BackendAsync("silent", async context => await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted));
        await router.RpushAsync(Db, "slow.test", "slow", silent.Url);
        var started = DateTime.UtcNow;
        using var response = await router.GetAsync("slow.test");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("took too long", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Q18_tcpTimeout_counts_from_the_backends_last_activity_not_from_the_request()
    {
        // Each piece well within the timeout (2.4 s to spare, for a loaded CI machine), the whole
        // response longer than it: a timeout counted from the start of the exchange (or not
        // re-armed by each read) would cut it with a 504 or a truncated body.
        var router = await RouterAsync(false, ("Router:TcpTimeout", "00:00:03"));
        var trickle = await BackendAsync("trickle", async context =>
        {
            context.Response.ContentLength = 8;
            await context.Response.StartAsync(context.RequestAborted);
            for (var i = 0; i < 8; i++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(600), context.RequestAborted);
                await context.Response.Body.WriteAsync("abcdefgh"u8.ToArray().AsMemory(i, 1), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        });
        await router.RpushAsync(Db, "trickle.test", "trickle", trickle.Url);
        var started = DateTime.UtcNow;
        Assert.Equal((200, "abcdefgh"), await router.GetTextAsync("trickle.test"));
        Assert.True(DateTime.UtcNow - started > TimeSpan.FromSeconds(3), "the backend's pieces took 4.8 s in all, more than the timeout");
    }

    [Fact]
    public async Task C16_Q21_a_backend_failing_mid_response_aborts_the_client_response()
    {
        var router = await RouterAsync();
        var broken = await BackendAsync("broken", async context =>
        {
            // Enough body, flushed, that the router has started relaying it before the backend dies.
            context.Response.ContentLength = 10_000_000;
            var chunk = new byte[64 * 1024];
            for (var i = 0; i < 8; i++)
            {
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }

            context.Abort();
        });
        await router.RpushAsync(Db, "reset.test", "reset", broken.Url);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = "reset.test";
        using var response = await router.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Q5_Q25_upgrades_to_unknown_hosts_are_answered_and_non_websocket_upgrades_are_proxied()
    {
        var router = await RouterAsync();
        var backend = await BackendAsync("plain");
        await router.RpushAsync(Db, "h2c.test", "h2c", backend.Url);

        Assert.StartsWith("HTTP/1.1 400", await router.RawAsync("GET / HTTP/1.1\r\nHost: nobody.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", until: "</html>"), StringComparison.Ordinal);
        var h2c = await router.RawAsync("GET / HTTP/1.1\r\nHost: h2c.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", until: "backend=plain");
        Assert.StartsWith("HTTP/1.1 200", h2c, StringComparison.Ordinal);
        Assert.Contains("backend=plain", h2c, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Q9_Q10_hipache_mode_sets_forwarding_headers_only_when_absent_with_ipv4_mapped_addresses()
    {
        var router = await RouterAsync(hipache: true);
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "compat-hdr.test", "c", backend.Url);
        using var spoofed = await router.GetAsync("compat-hdr.test", "/", r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6"));
        Assert.Equal("6.6.6.6", spoofed.Headers.GetValues("x-seen-x-forwarded-for").Single());
        Assert.Equal("::ffff:127.0.0.1", spoofed.Headers.GetValues("x-seen-x-real-ip").Single());
        Assert.Equal("80", spoofed.Headers.GetValues("x-seen-x-forwarded-port").Single());
    }

    [Fact]
    public async Task Q9_trusted_proxies_keep_and_extend_x_forwarded_for()
    {
        var router = await RouterAsync(false, ("Router:TrustedProxies:0", "127.0.0.0/8"));
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "trusted.test", "t", backend.Url);
        using var response = await router.GetAsync("trusted.test", "/", r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.9"));
        Assert.Equal("203.0.113.9, 127.0.0.1", response.Headers.GetValues("x-seen-x-forwarded-for").Single());
    }

    [Fact]
    public async Task Q7_hipache_mode_falls_back_to_the_spelling_as_sent_for_keys_stored_with_capitals()
    {
        var backend = await BackendAsync("A");
        foreach (var hipache in new[] { false, true })
        {
            var router = await RouterAsync(hipache);
            await router.RpushAsync(Db, "Legacy.Example", "legacy", backend.Url);
            Assert.Equal(hipache ? 200 : 400, (await router.GetTextAsync("Legacy.Example")).Status);
            Assert.Equal(400, (await router.GetTextAsync("legacy.example")).Status);
        }
    }
}
