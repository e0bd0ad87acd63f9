using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Tests;

/// <summary>The real router (Kestrel, YARP forwarder, Redis) on ephemeral loopback ports, with its own key prefix.</summary>
internal sealed class RunningRouter : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RunningRouter(WebApplication app, string prefix, int port, int managementPort)
    {
        _app = app;
        Prefix = prefix;
        Port = port;
        ManagementPort = managementPort;
        Client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.Zero })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public string Prefix { get; }

    public int Port { get; }

    public int ManagementPort { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static Task<RunningRouter> StartAsync(TestRedis redis, IDictionary<string, string?>? settings = null, string? prefix = null, Action<WebApplicationBuilder>? configure = null)
    {
        prefix ??= $"t{Guid.NewGuid():N}:";
        var config = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["RouteStore:KeyPrefix"] = prefix,
            ["Router:Urls:0"] = "http://127.0.0.1:0",
            ["Router:RetryOnError"] = "3",
            // Routers of parallel tests share this process's "Microsoft.AspNetCore" ActivitySource:
            // none samples a request of its own accord, so TracingTests decide alone (a sampled
            // traceparent is still honoured by all).
            ["Telemetry:TraceSampleRatio"] = "0",
            // The whole suite runs in parallel on two cores in CI, HTTP/2 floods and TLS handshakes
            // included: a lookup was seen to outlast the default 1 s there and answer a 503 no test
            // asked for. Tests about Redis timeouts set their own (0.3-0.5 s).
            ["RouteStore:OperationTimeout"] = "00:00:05",
        };
        return StartWithArgsAsync([], prefix, config, settings, configure);
    }

    /// <summary>Starts the router as its command line would (e.g. <c>--config hipache.json</c>), management on an ephemeral port.</summary>
    public static async Task<RunningRouter> StartWithArgsAsync(string[] args, string prefix, IDictionary<string, string?> config, IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        if (TestForwarder.Configured is { } forwarder)
        {
            config["Router:Forwarder"] = forwarder;
        }

        if (TestForwarder.IoEngine is { } ioEngine)
        {
            config["Router:IoEngine"] = ioEngine;
        }

        config["Router:ManagementAddress"] = "127.0.0.1";
        config["Router:ManagementPort"] = "0";
        foreach (var pair in settings ?? new Dictionary<string, string?>())
        {
            config[pair.Key] = pair.Value;
        }

        var app = RouterApplication.Create(args, builder =>
        {
            builder.Configuration.AddInMemoryCollection(config);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            configure?.Invoke(builder);
        });
        await app.StartAsync();

        // The router starts once it listens for changes, which needs only the subscription
        // connection; on a loaded test machine the command connection can still be handshaking,
        // and a first request would then be a 503 that no test means. Wait for it (bounded: a
        // test that starts a router with Redis down goes on after the deadline).
        var connections = app.Services.GetRequiredService<Hipache.Aspire.RouteStore.RedisConnections>();
        var deadline = Environment.TickCount64 + 5000;
        while (!connections.IsConnected && Environment.TickCount64 < deadline)
        {
            await Task.Delay(20);
        }

        // And the first read of the routing table done once (JIT of the read path in a Debug
        // build, the connection's first commands): under CI load a test's first request could
        // otherwise outlast RouteStore:OperationTimeout and get a 503 it did not ask for. Polled
        // to the same deadline: a multiplexer that reports connected can still answer "no
        // connection is available" for a moment (seen in CI), and three attempts back to back
        // all met that moment.
        if (connections.IsConnected)
        {
            var cache = app.Services.GetRequiredService<Hipache.Aspire.Router.Routing.RouteCache>();
            while ((await cache.LookupAsync("warm-up.invalid", CancellationToken.None)).Status == Hipache.Aspire.Router.Routing.LookupStatus.StoreUnavailable
                && Environment.TickCount64 < deadline)
            {
                await Task.Delay(20);
            }
        }

        var listeners = app.Services.GetRequiredService<RouterListeners>();
        return new RunningRouter(app, prefix, listeners.RoutedPorts[0], listeners.ManagementPort);
    }

    public async Task<HttpResponseMessage> GetAsync(string host, string path = "/", Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        configure?.Invoke(request);
        return await Client.SendAsync(request);
    }

    public async Task<(int Status, string Body)> GetTextAsync(string host, string path = "/")
    {
        using var response = await GetAsync(host, path);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Sends raw bytes to the routed port (or <paramref name="port"/>) and reads until the server closes, or until
    /// <paramref name="until"/> has arrived (for answers on a connection kept open).
    /// </summary>
    public async Task<string> RawAsync(string request, string? until = null, int? port = null)
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port ?? Port, ct);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request), ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var received = new System.Text.StringBuilder();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
                if (until is not null && received.ToString().Contains(until, StringComparison.Ordinal))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // A reset after the answer is how Kestrel ends a connection it will not trust.
        }

        return received.ToString();
    }

    /// <summary>Polls the management listener's <c>/health</c> until it reports <paramref name="status"/> (Healthy, Degraded).</summary>
    public async Task WaitForHealthAsync(string status, TimeSpan? timeout = null)
    {
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ManagementPort}") };
        var ct = TestContext.Current.CancellationToken;
        await Hipache.Aspire.TestSupport.Poll.UntilAsync(() => management.GetStringAsync("/health", ct), s => s.Contains($"\"status\":\"{status}\"", StringComparison.Ordinal), timeout, $"health to report {status}");
    }

    /// <summary>
    /// Polls <c>/health</c> until the route cache reports <paramref name="mode"/> (push, poll), with
    /// <paramref name="reason"/> in its reason when given; returns the health JSON. A router starts
    /// in poll mode ("no probe has come back yet"): to know that it found notifications off, wait
    /// for the reason "did not arrive".
    /// </summary>
    public async Task<string> WaitForCacheModeAsync(string mode, string? reason = null, TimeSpan? timeout = null)
    {
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ManagementPort}") };
        var ct = TestContext.Current.CancellationToken;
        return await Hipache.Aspire.TestSupport.Poll.UntilAsync(() => management.GetStringAsync("/health", ct), s => s.Contains($"\"mode\":\"{mode}\"", StringComparison.Ordinal) && (reason is null || s.Contains(reason, StringComparison.Ordinal)), timeout ?? TimeSpan.FromSeconds(10), $"the route cache to report {mode} mode");
    }

    /// <summary>Writes a frontend list the way Hipache tooling does: plain RPUSH, no change message.</summary>
    public async Task RpushAsync(IDatabase db, string frontendKey, params string[] values) =>
        await db.ListRightPushAsync(Prefix + "frontend:" + frontendKey, [.. values.Select(v => (RedisValue)v)]);

    /// <summary>Stops the host as SIGTERM does: no new connections, in-flight requests get the drain time.</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
