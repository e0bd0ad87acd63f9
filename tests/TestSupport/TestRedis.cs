using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Garnet;
using StackExchange.Redis;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// A real Redis for tests: a <c>redis-server</c> process when one is on PATH (CI installs it),
/// else an embedded Garnet server. Loopback only, on a free ephemeral port; <see cref="Kind"/>
/// says which one ran. Can be stopped and started again on the same port (outage tests), empty,
/// or, when started <see cref="Persistent"/>, with what it had acknowledged before it was killed.
/// </summary>
public sealed class TestRedis : IAsyncDisposable
{
    private Process? _process;
    private GarnetServer? _garnet;
    private readonly string? _dataDirectory;

    private TestRedis(string kind, int port, bool persistent)
    {
        Kind = kind;
        Port = port;
        if (persistent)
        {
            _dataDirectory = Directory.CreateTempSubdirectory("hipache-test-redis-").FullName;
        }
    }

    /// <summary><c>redis-server</c> or <c>garnet</c>.</summary>
    public string Kind { get; }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool SupportsKeyspaceNotifications => Kind == "redis-server";

    /// <summary>
    /// Every acknowledged write survives a kill: redis-server with an append-only file fsynced
    /// before each reply (<c>appendfsync always</c>). Only redis-server; Garnet always starts empty.
    /// </summary>
    public bool Persistent => _dataDirectory is not null;

    /// <param name="persistent">Ask for <see cref="Persistent"/> (granted only with redis-server).</param>
    public static async Task<TestRedis> StartAsync(bool persistent = false)
    {
        var kind = FindRedisServer() is not null && Environment.GetEnvironmentVariable("HIPACHE_TEST_REDIS") != "garnet" ? "redis-server" : "garnet";
        for (var attempt = 0; ; attempt++)
        {
            var redis = new TestRedis(kind, FreePort(), persistent && kind == "redis-server");
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

    /// <summary>Starts the server (again) on the same port, empty unless <see cref="Persistent"/>.</summary>
    public async Task StartAgainAsync()
    {
        if (Kind == "redis-server")
        {
            var info = new ProcessStartInfo(FindRedisServer()!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            string[] persistence = _dataDirectory is null
                ? ["--appendonly", "no"]
                : ["--appendonly", "yes", "--appendfsync", "always", "--dir", _dataDirectory];
            foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "no" }.Concat(persistence))
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
            catch (Exception ex) when (DateTime.UtcNow < deadline && (_process is null || !_process.HasExited)
                && (ex is RedisConnectionException || (ex is RedisServerException && ex.Message.StartsWith("LOADING", StringComparison.Ordinal))))
            {
                // Not listening yet, or (persistent) still replaying its append-only file.
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

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_dataDirectory is not null)
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private static int FreePort() => RedisProcesses.FreePort();

    private static string? FindRedisServer() => RedisProcesses.Find("redis-server");
}
