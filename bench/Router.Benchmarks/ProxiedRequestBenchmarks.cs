using BenchmarkDotNet.Attributes;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Hipache.Aspire.Router.Listeners;

namespace Hipache.Aspire.Router.Benchmarks;

/// <summary>
/// One whole proxied request through the real router (Kestrel, route cache, forwarder, access
/// log on, as issue 11 measures it) to a real backend, over a kept-alive client connection.
/// The client and the backend allocate nothing per request, so MemoryDiagnoser's figure (every
/// thread's allocations) is the router's cost per request. Needs redis-server on PATH (or uses
/// embedded Garnet, as the tests do). Time per operation is a round trip on one connection on
/// this machine, not throughput: ../shared/bench measures that.
/// </summary>
[MemoryDiagnoser]
public class ProxiedRequestBenchmarks
{
    private const string Host = "bench.local";

    private TestRedis? _redis;
    private CannedBackend? _backend;
    private WebApplication? _router;
    private KeepAliveClient? _client;
    private string? _accessLogDirectory;

    [Params("Native", "Yarp")]
    public string Forwarder { get; set; } = "Native";

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    private async Task SetupAsync()
    {
        // As the router's Main does, before the first socket exists.
        RuntimeTuning.Apply();
        _redis = await TestRedis.StartAsync();
        _backend = new CannedBackend();
        await using (var redis = await _redis.ConnectAsync())
        {
            await redis.GetDatabase().ListRightPushAsync("frontend:" + Host, ["bench", $"http://127.0.0.1:{_backend.Port}"]);
        }

        _accessLogDirectory = Directory.CreateTempSubdirectory("hipache-bench-").FullName;
        _router = RouterApplication.Create([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:redis"] = _redis.ConnectionString,
                ["Router:Urls:0"] = "http://127.0.0.1:0",
                ["Router:ManagementAddress"] = "127.0.0.1",
                ["Router:ManagementPort"] = "0",
                ["Router:Forwarder"] = Forwarder,
                ["Router:AccessLog"] = Path.Combine(_accessLogDirectory, "access.log"),
            });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await _router.StartAsync();
        var port = _router.Services.GetRequiredService<RouterListeners>().RoutedPorts[0];
        _client = new KeepAliveClient(port, Host);

        // The first request after start may meet the Redis connection still handshaking.
        var deadline = Environment.TickCount64 + 10_000;
        while (_client.Send() != 200)
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new InvalidOperationException("The router did not serve the benchmark host within 10 s.");
            }

            await Task.Delay(50);
        }
    }

    [Benchmark]
    public int ProxiedRequest() => _client!.Send();

    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    private async Task CleanupAsync()
    {
        _client?.Dispose();
        if (_router is not null)
        {
            await _router.StopAsync();
            await _router.DisposeAsync();
        }

        _backend?.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_accessLogDirectory is not null)
        {
            Directory.Delete(_accessLogDirectory, recursive: true);
        }
    }
}
