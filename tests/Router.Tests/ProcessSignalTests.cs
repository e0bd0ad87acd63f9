using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Q27 with a real SIGTERM to a real router process: in-flight requests drain, the listener is
/// closed at once (Kestrel stops accepting: a new connect is refused), the process exits 0, and
/// a request that outlives <c>DrainTimeout</c> does not keep it alive past that bound.
/// </summary>
public sealed class ProcessSignalTests(RedisFixture fixture)
{
    private const int InFlight = 4;

    // What the process may take beyond DrainTimeout to close Redis, flush logs and exit.
    private static readonly TimeSpan ExitMargin = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Q27_sigterm_drains_in_flight_requests_refuses_new_connections_and_exits_0()
    {
        var drainTimeout = TimeSpan.FromSeconds(15);
        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var slow = await TestBackend.StartAsync("slow", async context =>
        {
            Interlocked.Increment(ref arrived);
            // Held until the test has seen the listener closed: the requests are surely in flight
            // during the drain, whatever the machine's speed.
            await release.Task;
            await context.Response.WriteAsync("finished");
        });
        var prefix = $"p{Guid.NewGuid():N}:";
        await using var router = await RouterProcesses.StartAsync(fixture.Redis, prefix, new Dictionary<string, string> { ["Router__DrainTimeout"] = drainTimeout.ToString("c", CultureInfo.InvariantCulture) });
        await RouteAsync(prefix, "drain.test", slow.Url);

        using var client = NewClient(router.Port);
        var requests = Enumerable.Range(0, InFlight).Select(_ => SendAsync(client, "drain.test")).ToArray();
        await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref arrived)), n => n == InFlight, TimeSpan.FromSeconds(20), "every request to reach the backend");

        var signalled = Stopwatch.StartNew();
        await router.SignalTermAsync(TestContext.Current.CancellationToken);

        // Kestrel closes its listening socket as soon as the host begins to stop: a connect is
        // refused (RST), not accepted and left waiting.
        await Poll.UntilAsync(() => ConnectRefusedAsync(router.Port), refused => refused, TimeSpan.FromSeconds(10), "new connections to be refused after SIGTERM");
        Assert.False(router.HasExited, "the process must wait for in-flight requests, not exit at once");
        Assert.All(requests, r => Assert.False(r.IsCompleted, "a request completed before its backend answered"));

        release.SetResult();
        var results = await Task.WhenAll(requests).WaitAsync(drainTimeout, Ct);
        // Every in-flight request finished. (Whether its response also says "Connection: close"
        // depends on whether Kestrel had asked that connection to close yet: it closes the
        // listener first, so a response in between goes out without it; seen once in CI.)
        Assert.All(results, r => Assert.Equal((200, "finished"), (r.Status, r.Body)));

        Assert.True(await router.WaitForExitAsync(drainTimeout + ExitMargin - signalled.Elapsed, TestContext.Current.CancellationToken), $"still running {signalled.Elapsed} after SIGTERM:\n{router.Output}");
        Assert.True(router.ExitCode == 0, $"exit code {router.ExitCode}:\n{router.Output}");
    }

    [Fact]
    public async Task Q27_a_request_outliving_DrainTimeout_does_not_keep_the_process_alive()
    {
        var drainTimeout = TimeSpan.FromSeconds(2);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var stuck = await TestBackend.StartAsync("stuck", async context =>
        {
            arrived.TrySetResult();
            // Longer than DrainTimeout + margin and than TcpTimeout: only the drain bound can end it.
            await Task.WhenAny(never.Task, Task.Delay(TimeSpan.FromMinutes(2), CancellationToken.None));
            await context.Response.WriteAsync("too late");
        });
        try
        {
            var prefix = $"p{Guid.NewGuid():N}:";
            await using var router = await RouterProcesses.StartAsync(fixture.Redis, prefix, new Dictionary<string, string>
            {
                ["Router__DrainTimeout"] = drainTimeout.ToString("c", CultureInfo.InvariantCulture),
                ["Router__TcpTimeout"] = "00:01:00",
            });
            await RouteAsync(prefix, "stuck.test", stuck.Url);

            using var client = NewClient(router.Port);
            var request = SendAsync(client, "stuck.test");
            await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);

            var signalled = Stopwatch.StartNew();
            await router.SignalTermAsync(TestContext.Current.CancellationToken);
            Assert.True(await router.WaitForExitAsync(drainTimeout + ExitMargin, TestContext.Current.CancellationToken), $"still running {signalled.Elapsed} after SIGTERM with DrainTimeout {drainTimeout}:\n{router.Output}");
            // The drain is a grace period, not an immediate cut.
            Assert.True(signalled.Elapsed >= drainTimeout - TimeSpan.FromMilliseconds(500), $"exited after {signalled.Elapsed}, before DrainTimeout {drainTimeout}");
            Assert.True(router.ExitCode == 0, $"exit code {router.ExitCode}:\n{router.Output}");

            // The cut request's connection is aborted: the client sees an error, never a 200.
            var outcome = await Record.ExceptionAsync(() => request.WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.IsType<HttpRequestException>(outcome);
        }
        finally
        {
            never.TrySetResult();
        }
    }

    private async Task RouteAsync(string prefix, string host, string backendUrl)
    {
        await using var connection = await fixture.Redis.ConnectAsync();
        await connection.GetDatabase().ListRightPushAsync(prefix + "frontend:" + host, ["app", backendUrl]);
    }

    // One connection per request: concurrent requests on one handler each get their own socket.
    private static HttpClient NewClient(int port) =>
        new(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(60),
        };

    private static async Task<(int Status, string Body, bool ConnectionClose)> SendAsync(HttpClient client, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        // Kestrel ends a kept-alive connection that is draining with "Connection: close".
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(Ct), response.Headers.ConnectionClose == true);
    }

    private static async Task<bool> ConnectRefusedAsync(int port)
    {
        using var probe = new TcpClient();
        try
        {
            await probe.ConnectAsync(IPAddress.Loopback, port, Ct);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
        {
            // Reset: the connect was queued on the listening socket as it closed.
            return true;
        }
    }
}
