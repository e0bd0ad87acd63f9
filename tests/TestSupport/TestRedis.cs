using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Garnet;
using StackExchange.Redis;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// A real Redis for tests: a <c>redis-server</c> process when one is on PATH (CI installs it),
/// else an embedded Garnet server. Loopback only, on a free ephemeral port; <see cref="Kind"/>
/// says which one ran. Can be stopped and started again on the same port (outage tests).
/// </summary>
public sealed class TestRedis : IAsyncDisposable
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"test-redis-{Guid.NewGuid():N}");
    private Process? _process;
    private GarnetServer? _garnet;

    private TestRedis(string kind, int port)
    {
        Kind = kind;
        Port = port;
    }

    /// <summary><c>redis-server</c> or <c>garnet</c>.</summary>
    public string Kind { get; }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool SupportsKeyspaceNotifications => Kind == "redis-server";

    public static async Task<TestRedis> StartAsync()
    {
        var kind = FindRedisServer() is not null && Environment.GetEnvironmentVariable("HIPACHE_TEST_REDIS") != "garnet" ? "redis-server" : "garnet";
        for (var attempt = 0; ; attempt++)
        {
            var redis = new TestRedis(kind, FreePort());
            try
            {
                await redis.StartAgainAsync();
                return redis;
            }
            catch (Exception ex) when (attempt < 5 && ex is InvalidOperationException or System.Net.Sockets.SocketException)
            {
                // Someone took the port between probing and binding: another port.
                await redis.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Starts the server (again) on the same port: empty, or with <paramref name="keepData"/> the
    /// data of the last <see cref="SaveAsync"/> (redis-server only: a restart with its RDB file).
    /// </summary>
    public async Task StartAgainAsync(bool keepData = false)
    {
        if (keepData && Kind != "redis-server")
        {
            throw new NotSupportedException("Only redis-server can restart with its data.");
        }

        if (Kind == "redis-server")
        {
            Directory.CreateDirectory(_dataDirectory);
            if (!keepData)
            {
                File.Delete(Path.Combine(_dataDirectory, "dump.rdb"));
            }

            var info = new ProcessStartInfo(FindRedisServer()!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", _dataDirectory, "--dbfilename", "dump.rdb" })
            {
                info.ArgumentList.Add(arg);
            }

            _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
            _ = _process.StandardOutput.ReadToEndAsync();
            _ = _process.StandardError.ReadToEndAsync();
        }
        else
        {
            _garnet = new GarnetServer(["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--lua", "-m", "64m", "-i", "16m"]);
            _garnet.Start();
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", Port } }, ConnectTimeout = 500, AbortOnConnectFail = true, AllowAdmin = true });
                await probe.GetDatabase().PingAsync();
                if (_process is not null)
                {
                    // Two tests can be handed the same free port; the server that lost the race
                    // exits, and its PING would reach the other one. Only our own process counts.
                    var info = await probe.GetServer("127.0.0.1", Port).InfoAsync("server");
                    var pid = info.SelectMany(g => g).FirstOrDefault(p => p.Key == "process_id").Value;
                    if (_process.HasExited || pid != _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    {
                        throw new InvalidOperationException($"Port {Port} is served by another process.");
                    }
                }

                return;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && (_process is null || !_process.HasExited))
            {
                await Task.Delay(50);
            }
            catch (RedisConnectionException ex)
            {
                throw new InvalidOperationException($"{Kind} did not answer on port {Port}.", ex);
            }
        }
    }

    /// <summary>Kills the server (an outage, not a clean shutdown).</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
        _garnet?.Dispose();
        _garnet = null;
    }

    public async Task<ConnectionMultiplexer> ConnectAsync() =>
        await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", Port } }, AllowAdmin = true });

    /// <summary>Writes the data to disk (SAVE), for <see cref="StartAgainAsync"/> with keepData.</summary>
    public async Task SaveAsync()
    {
        await using var connection = await ConnectAsync();
        // SAVE, not BGSAVE: the file must be complete when this returns (a test-sized data set blocks nobody).
        await connection.GetDatabase().ExecuteAsync("SAVE");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (Directory.Exists(_dataDirectory))
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindRedisServer() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server"))
            .FirstOrDefault(File.Exists);
}
