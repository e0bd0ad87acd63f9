using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hipache.Aspire.Router.Forwarding;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Clients that hold connections hostage (slowloris, slow bodies, idle keep-alive), methods a
/// reverse proxy must not relay blindly (CONNECT, TRACE), absolute-form targets that disagree
/// with Host, and one tenant flooding the others (Router:MaxConcurrentRequestsPerFrontend).
/// </summary>
public sealed class ClientAbuseTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private int _backendRequests;

    private Task<RunningRouter> RouterAsync(params (string Key, string Value)[] settings) =>
        StartRouterAsync(new Dictionary<string, string?> { ["Router:RouteCacheTtl"] = "00:10:00", ["Router:MaxStaleness"] = "00:10:00" }, settings);

    /// <summary>By default a backend that counts what reached it and answers <c>backend=name</c>.</summary>
    private Task<TestBackend> BackendAsync(string name, RequestDelegate? handler = null) => StartBackendAsync(name, handler ?? (async context =>
    {
        Interlocked.Increment(ref _backendRequests);
        await context.Response.WriteAsync($"backend={name}");
    }));

    private static async Task<TcpClient> ConnectAsync(RunningRouter router)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, router.Port, Ct);
        return client;
    }

    /// <summary>Reads until the server closes the connection (or the deadline), returning what arrived and when it closed.</summary>
    private static async Task<(string Received, TimeSpan ClosedAfter)> ReadUntilClosedAsync(NetworkStream stream, Stopwatch clock, TimeSpan deadline)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(deadline);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (IOException)
        {
            // A reset is a close too.
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            throw new TimeoutException($"The router kept the connection open for {deadline}; received: {received}");
        }

        return (received.ToString(), clock.Elapsed);
    }

    /// <summary>
    /// A slow client: <paramref name="bytes"/> every <paramref name="pace"/>, at most
    /// <paramref name="times"/> times, until the router closes the connection (<paramref name="reading"/>
    /// ends) or refuses more bytes. The pace is the behaviour under test, not a wait for a condition.
    /// </summary>
    private static async Task DribbleAsync(NetworkStream stream, byte[] bytes, TimeSpan pace, int times, Task reading)
    {
        for (var i = 0; !reading.IsCompleted && i < times; i++)
        {
            try
            {
                await stream.WriteAsync(bytes, Ct);
            }
            catch (IOException)
            {
                return;
            }

            await Task.WhenAny(reading, Task.Delay(pace, Ct));
        }
    }

    [Fact]
    public async Task Slowloris_headers_are_cut_with_408_after_RequestHeadersTimeout()
    {
        var router = await RouterAsync(("Router:RequestHeadersTimeout", "00:00:02"));
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "slow.test", "slow", backend.Url);

        using var client = await ConnectAsync(router);
        var stream = client.GetStream();
        var clock = Stopwatch.StartNew();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: slow.test\r\n"u8.ToArray(), Ct);
        var reading = ReadUntilClosedAsync(stream, clock, TimeSpan.FromSeconds(15));

        // One header byte every 200 ms: always "active", never finished.
        await DribbleAsync(stream, "X"u8.ToArray(), TimeSpan.FromMilliseconds(200), 100, reading);

        var (received, closedAfter) = await reading;
        Assert.StartsWith("HTTP/1.1 408", received, StringComparison.Ordinal);
        Assert.InRange(closedAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(8));
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task A_body_slower_than_MinRequestBodyDataRate_is_cut_with_408_and_blames_no_backend()
    {
        var router = await RouterAsync(("Router:MinRequestBodyDataRate", "1000"), ("Router:MinDataRateGracePeriod", "00:00:02"));
        var backend = await BackendAsync("A", async context =>
        {
            Interlocked.Increment(ref _backendRequests);
            using var reader = new StreamReader(context.Request.Body);
            await context.Response.WriteAsync($"read {(await reader.ReadToEndAsync()).Length}");
        });
        await router.RpushAsync(Db, "slowbody.test", "slowbody", backend.Url);

        using var client = await ConnectAsync(router);
        var stream = client.GetStream();
        var clock = Stopwatch.StartNew();
        await stream.WriteAsync("POST / HTTP/1.1\r\nHost: slowbody.test\r\nContent-Length: 100000\r\n\r\n"u8.ToArray(), Ct);
        var reading = ReadUntilClosedAsync(stream, clock, TimeSpan.FromSeconds(20));

        // 10 bytes every 100 ms = 100 B/s, a tenth of the minimum.
        await DribbleAsync(stream, "0123456789"u8.ToArray(), TimeSpan.FromMilliseconds(100), 150, reading);

        var (received, closedAfter) = await reading;
        Assert.True(received.Length == 0 || received.StartsWith("HTTP/1.1 408", StringComparison.Ordinal), received);
        Assert.InRange(closedAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(12));
        Assert.Empty(await Db.SetMembersAsync(router.Prefix + "dead:slowbody.test"));
    }

    [Fact]
    public async Task An_idle_keep_alive_connection_is_closed_after_TcpTimeout()
    {
        var router = await RouterAsync(("Router:TcpTimeout", "00:00:02"));
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "idle.test", "idle", backend.Url);

        using var client = await ConnectAsync(router);
        var stream = client.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n"u8.ToArray(), Ct);
        var clock = Stopwatch.StartNew();
        var (received, closedAfter) = await ReadUntilClosedAsync(stream, clock, TimeSpan.FromSeconds(15));

        Assert.StartsWith("HTTP/1.1 200", received, StringComparison.Ordinal);
        Assert.Contains("backend=A", received, StringComparison.Ordinal);
        // Kestrel's heartbeat is 1 s: the cut comes between the timeout and a second or two after.
        Assert.InRange(closedAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task CONNECT_gets_501_and_opens_no_tunnel()
    {
        var router = await RouterAsync();
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "tunnel.test", "tunnel", backend.Url);

        // Host agreeing with the authority-form target, or Kestrel answers 400 before the router sees it.
        var answer = await router.RawAsync($"CONNECT 127.0.0.1:{backend.Port} HTTP/1.1\r\nHost: 127.0.0.1:{backend.Port}\r\n\r\n", until: "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 501", answer, StringComparison.Ordinal);
        var named = await router.RawAsync("CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n", until: "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 501", named, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task TRACE_gets_405_with_Allow_when_AllowTrace_is_off()
    {
        // Forwarded by default, as Hipache does (C12 covers that).
        var router = await RouterAsync(("Router:AllowTrace", "false"));
        var backend = await BackendAsync("A");
        await router.RpushAsync(Db, "trace.test", "trace", backend.Url);

        using var request = new HttpRequestMessage(HttpMethod.Trace, "/") { Headers = { Host = "trace.test" } };
        using var response = await router.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.DoesNotContain("TRACE", response.Content.Headers.Allow);
        Assert.Contains("GET", response.Content.Headers.Allow);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
        Assert.Equal((200, "backend=A"), await router.GetTextAsync("trace.test"));
    }

    [Fact]
    public async Task An_absolute_form_target_whose_authority_disagrees_with_Host_is_400_and_reaches_neither_tenant()
    {
        var router = await RouterAsync();
        var a = await BackendAsync("A");
        var b = await BackendAsync("B");
        await router.RpushAsync(Db, "a.test", "a", a.Url);
        await router.RpushAsync(Db, "b.test", "b", b.Url);

        // RFC 9112 3.2.2: the authority wins over Host; a client that sends two different
        // names is confused or probing for a cache or ACL that reads the other one.
        var mismatch = await router.RawAsync("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", mismatch, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));

        var agreeing = await router.RawAsync("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", agreeing, StringComparison.Ordinal);
        Assert.Contains("backend=A", agreeing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_frontend_at_MaxConcurrentRequestsPerFrontend_gets_503_while_the_others_are_served()
    {
        var router = await RouterAsync(("Router:MaxConcurrentRequestsPerFrontend", "2"));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = 0;
        var slow = await BackendAsync("slow", async context =>
        {
            Interlocked.Increment(ref entered);
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("backend=slow");
        });
        var fast = await BackendAsync("fast");
        await router.RpushAsync(Db, "flood.test", "flood", slow.Url);
        await router.RpushAsync(Db, "quiet.test", "quiet", fast.Url);

        var held = new[] { router.GetTextAsync("flood.test"), router.GetTextAsync("flood.test") };
        await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref entered)), n => n == 2, what: "two requests held by the slow backend");

        using (var over = await router.GetAsync("flood.test"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);
            Assert.Equal("1", over.Headers.GetValues("Retry-After").Single());
        }

        Assert.Equal((200, "backend=fast"), await router.GetTextAsync("quiet.test"));

        release.SetResult();
        foreach (var answer in await Task.WhenAll(held))
        {
            Assert.Equal((200, "backend=slow"), answer);
        }

        Assert.Equal((200, "backend=slow"), await router.GetTextAsync("flood.test"));
        // Being at the limit is not a backend failure, and no counter outlives its requests.
        Assert.Empty(await Db.SetMembersAsync(router.Prefix + "dead:flood.test"));
        var limiter = router.Services.GetRequiredService<FrontendConcurrencyLimiter>();
        await Poll.UntilAsync(() => Task.FromResult(limiter.TrackedFrontends), n => n == 0, what: "the per-frontend counters to be retired");
    }
}
