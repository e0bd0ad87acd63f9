using System.Net;
using System.Net.Sockets;
using System.Text;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat section 11 (C6, C12-C16), 2.6, 5.2-5.4, Q17, Q26 and the TTL invalidation path.</summary>
public sealed class ConformanceTests(RedisFixture fixture) : RouterTestBase(fixture)
{
    private async Task<TestBackend> RouteAsync(string host, RequestDelegate? handler = null)
    {
        var backend = await BackendAsync(host, handler);
        await Router.RpushAsync(Db, host, host, backend.Url);
        return backend;
    }

    [Fact]
    public async Task C1_C2_a_wildcard_matches_subdomains_but_not_its_own_name()
    {
        var a = await BackendAsync("A");
        await Router.RpushAsync(Db, "*.c1.bar", "a", a.Url);
        Assert.Equal((200, "backend=A"), await Router.GetTextAsync("test.c1.bar"));
        Assert.Equal((200, "backend=A"), await Router.GetTextAsync("pipo.c1.bar"));
        Assert.Equal(400, (await Router.GetTextAsync("c1.bar")).Status);
    }

    [Fact]
    public async Task C15_a_backend_sending_more_than_its_content_length_still_gives_the_announced_response()
    {
        // A raw socket backend: Kestrel would refuse to send more than it announced.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serve = Task.Run(async () =>
        {
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync(Ct);
                var buffer = new byte[4096];
                await socket.ReceiveAsync(buffer, Ct);
                await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n1234567890"u8.ToArray(), Ct);
                socket.Shutdown(SocketShutdown.Both);
            }
        }, Ct);
        await Router.RpushAsync(Db, "c15.test", "c15", $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        Assert.Equal((200, "12345"), await Router.GetTextAsync("c15.test"));
        listener.Stop();
        await Assert.ThrowsAnyAsync<Exception>(() => serve);
    }

    [Fact]
    public async Task Section7_a_backend_url_without_host_is_502_backend_is_invalid_and_not_marked()
    {
        var router = await RunningRouter.StartAsync(Fixture.Redis, new Dictionary<string, string?> { ["Router:Debug"] = "true" });
        await using (router)
        {
            await router.RpushAsync(Db, "invalid.test", "invalid", "http://", "http://");
            using var response = await router.GetAsync("invalid.test", "/", r => r.Headers.TryAddWithoutValidation("X-Debug", "1"));
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal("backend is invalid", response.Headers.GetValues("x-debug-error").Single());
            Assert.Empty(await Db.SetMembersAsync(router.Prefix + "dead:invalid.test"));
        }
    }

    [Theory]
    [InlineData(0, "Retry on error is disabled")]
    [InlineData(2, "Reached max retries limit")]
    public async Task Section4_4_give_up_messages(int retries, string message)
    {
        var stopped = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var backend = await TestBackend.StartAsync("gone");
            stopped.Add(backend.Url);
            await backend.DisposeAsync();
        }

        var router = await RunningRouter.StartAsync(Fixture.Redis, new Dictionary<string, string?>
        {
            ["Router:Debug"] = "true",
            ["Router:RetryOnError"] = retries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await using (router)
        {
            await router.RpushAsync(Db, "giveup.test", ["giveup", .. stopped]);
            using var response = await router.GetAsync("giveup.test", "/", r => r.Headers.TryAddWithoutValidation("X-Debug", "1"));
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal(message, response.Headers.GetValues("x-debug-error").Single());
            Assert.True(response.Headers.Contains("x-debug-backend-url"), "give-up answers come after a backend was chosen");
        }
    }

    [Fact]
    public async Task C6_a_thirteen_label_exact_host_matches()
    {
        const string host = "a.b.c.d.e.f.g.h.i.j.k.l.m";
        await RouteAsync(host);
        Assert.Equal((200, $"backend={host}"), await Router.GetTextAsync(host));
    }

    [Fact]
    public async Task C12_every_method_reaches_the_backend_and_its_status_comes_back()
    {
        await RouteAsync("c12.test", context =>
        {
            context.Response.StatusCode = context.Request.Method == "DELETE" ? 204 : 200;
            context.Response.Headers["x-method"] = context.Request.Method;
            return Task.CompletedTask;
        });
        foreach (var method in new[] { "GET", "HEAD", "OPTIONS", "TRACE", "DELETE", "POST", "PUT", "PATCH", "PURGE" })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), "/");
            request.Headers.Host = "c12.test";
            if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = new StringContent("x");
            }

            using var response = await Router.Client.SendAsync(request, Ct);
            Assert.Equal(method == "DELETE" ? HttpStatusCode.NoContent : HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(method, response.Headers.GetValues("x-method").Single());
        }
    }

    [Fact]
    public async Task C13_a_large_chunked_upload_is_streamed_through()
    {
        await RouteAsync("c13.test", async context =>
        {
            long total = 0;
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                total += read;
            }

            await context.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        const long size = 64L * 1024 * 1024;
        using var request = new HttpRequestMessage(HttpMethod.Put, "/upload") { Content = new StreamContent(new PatternStream(size)) };
        request.Headers.Host = "c13.test";
        request.Headers.TransferEncodingChunked = true;
        using var response = await Router.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task C14_an_odd_request_target_is_forwarded_byte_for_byte()
    {
        await RouteAsync("c14.test");
        var answer = await Router.RawAsync("GET /pipo&%$(PIPO HTTP/1.1\r\nHost: c14.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.True(answer.Contains("x-seen-raw-target: /pipo&%$(PIPO", StringComparison.OrdinalIgnoreCase), answer);

        // Hipache's own C14 target has a '#', which a request-target cannot carry (RFC 9112 3.2):
        // 400 in Safe mode; ProtocolStrictnessTests has Hipache mode, which forwards it as %23.
        var fragment = await Router.RawAsync("GET /pipo&%$#(PIPO HTTP/1.1\r\nHost: c14.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", fragment, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Q26_absolute_form_targets_route_on_their_authority()
    {
        await RouteAsync("q26.test");
        var answer = await Router.RawAsync("GET http://q26.test/abs HTTP/1.1\r\nHost: q26.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("backend=q26.test", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Q17_hop_by_hop_headers_and_headers_named_in_connection_are_not_forwarded()
    {
        await RouteAsync("q17.test", context =>
        {
            context.Response.Headers["Keep-Alive"] = "timeout=5";
            context.Response.Headers["x-seen-x-private"] = $"<{context.Request.Headers["X-Private"]}>";
            context.Response.Headers["x-seen-te"] = $"<{context.Request.Headers.TE}>";
            return context.Response.WriteAsync("ok");
        });
        // Kestrel keeps only keep-alive/close of a Connection header that has them, so the named
        // header is declared alone here (the connection stays open: read until the last chunk).
        var answer = await Router.RawAsync("GET / HTTP/1.1\r\nHost: q17.test\r\nConnection: X-Private\r\nX-Private: secret\r\nTE: trailers, deflate\r\nProxy-Authorization: Basic eDp5\r\n\r\n", until: "\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.True(answer.Contains("x-seen-x-private: <>", StringComparison.OrdinalIgnoreCase), answer);
        Assert.DoesNotContain("deflate", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("Keep-Alive: timeout", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Section2_6_a_live_checker_heartbeat_switches_dead_set_writes_off()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.True(CheckerHeartbeatMonitor.Decide(null, now));
        Assert.True(CheckerHeartbeatMonitor.Decide((now.ToUnixTimeSeconds() - 31).ToString(System.Globalization.CultureInfo.InvariantCulture), now));
        Assert.False(CheckerHeartbeatMonitor.Decide((now.ToUnixTimeSeconds() - 5).ToString(System.Globalization.CultureInfo.InvariantCulture), now));
        Assert.False(CheckerHeartbeatMonitor.Decide("not-a-number", now));

        // Against a real store of its own (hchecker_ping is not prefixed): a fresh heartbeat turns passive mode off.
        await using var redis = await TestRedis.StartAsync();
        await using var router = await RunningRouter.StartAsync(redis);
        await using var connection = await redis.ConnectAsync();
        await connection.GetDatabase().StringSetAsync("hchecker_ping", now.ToUnixTimeSeconds());
        var monitor = router.Services.GetRequiredService<CheckerHeartbeatMonitor>();
        await monitor.CheckOnceAsync(Ct);
        Assert.False(monitor.IsPassive);
        await connection.GetDatabase().KeyDeleteAsync("hchecker_ping");
        await monitor.CheckOnceAsync(Ct);
        Assert.True(monitor.IsPassive);
    }

    [Fact]
    public async Task Route_cache_ttl_bounds_staleness_when_no_message_arrives()
    {
        // Own Redis with keyspace notifications off, no change message: only the TTL can tell.
        await using var redis = await TestRedis.StartAsync();
        await using var router = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:00:00.300" });
        await using var connection = await redis.ConnectAsync();
        if (redis.SupportsKeyspaceNotifications)
        {
            await connection.GetServer(connection.GetEndPoints()[0]).ConfigSetAsync("notify-keyspace-events", string.Empty);
        }

        // Its probe no longer comes back: the router must fall back to the short lifetime.
        await router.WaitForCacheModeAsync("poll", "did not arrive");

        var first = await BackendAsync("first");
        var second = await BackendAsync("second");
        var db = connection.GetDatabase();
        await router.RpushAsync(db, "ttl.test", "ttl", first.Url);
        Assert.Equal((200, "backend=first"), await router.GetTextAsync("ttl.test"));
        await db.ListSetByIndexAsync(router.Prefix + "frontend:ttl.test", 1, second.Url);
        await Poll.UntilAsync(() => router.GetTextAsync("ttl.test"), r => r.Body == "backend=second", TimeSpan.FromSeconds(3), "the TTL to expire the entry");
    }

    /// <summary>A readable stream of a given length without holding it in memory.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, n).Fill((byte)'x');
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
