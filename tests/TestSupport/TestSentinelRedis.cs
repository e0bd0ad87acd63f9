using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// Redis's own high-availability topology, with real processes on ephemeral loopback ports: a
/// primary, one replica, and three Sentinels (quorum 2) watching them as service
/// <see cref="ServiceName"/>. Needs Debian's redis-server (Sentinel is the same binary).
/// </summary>
public sealed class TestSentinelRedis : IAsyncDisposable
{
    public const string ServiceName = "hipache";

    private readonly string _directory = Directory.CreateTempSubdirectory("hipache-sentinel-").FullName;
    private readonly Dictionary<int, Process> _servers = [];
    private readonly List<(int Port, Process Process)> _sentinels = [];

    private TestSentinelRedis()
    {
    }

    /// <summary>A StackExchange.Redis connection string through the Sentinels: what a router or admin API is given.</summary>
    public string ConnectionString => string.Join(",", _sentinels.Select(s => $"127.0.0.1:{s.Port}")) + $",serviceName={ServiceName}";

    /// <summary>The data nodes' ports, primary first at start.</summary>
    public IReadOnlyList<int> ServerPorts => [.. _servers.Keys];

    public static async Task<TestSentinelRedis> StartAsync(TimeSpan downAfter)
    {
        var redisServer = RedisProcesses.Find("redis-server") ?? throw new InvalidOperationException("redis-server is not on PATH: the Sentinel topology needs it (apt-get install redis-server).");
        var topology = new TestSentinelRedis();
        try
        {
            var primary = RedisProcesses.FreePort();
            topology._servers[primary] = await StartServerAsync(redisServer, primary, null);
            var replica = RedisProcesses.FreePort();
            topology._servers[replica] = await StartServerAsync(redisServer, replica, primary);
            await WaitForReplicationAsync(replica);

            for (var i = 0; i < 3; i++)
            {
                var port = RedisProcesses.FreePort();
                var config = Path.Combine(topology._directory, $"sentinel-{port}.conf");
                await File.WriteAllLinesAsync(config,
                [
                    $"port {port}",
                    "bind 127.0.0.1",
                    "protected-mode no",
                    $"dir {topology._directory}",
                    $"sentinel monitor {ServiceName} 127.0.0.1 {primary} 2",
                    $"sentinel down-after-milliseconds {ServiceName} {(int)downAfter.TotalMilliseconds}",
                    $"sentinel failover-timeout {ServiceName} 10000",
                    $"sentinel parallel-syncs {ServiceName} 1",
                ]);
                topology._sentinels.Add((port, RedisProcesses.Start(redisServer, config, "--sentinel")));
            }

            foreach (var (port, _) in topology._sentinels)
            {
                await RedisProcesses.WaitUntilAsync(async () => await PrimaryPortFromAsync(port) == primary, TimeSpan.FromSeconds(15), $"Sentinel {port} to watch the primary");
            }

            return topology;
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
    }

    /// <summary>The primary's port as the first Sentinel that answers sees it.</summary>
    public async Task<int> PrimaryPortAsync()
    {
        foreach (var (port, _) in _sentinels)
        {
            if (await PrimaryPortFromAsync(port) is { } primary)
            {
                return primary;
            }
        }

        throw new InvalidOperationException("No Sentinel answered.");
    }

    /// <summary>Kills the current primary (SIGKILL: a crash) and returns its port.</summary>
    public async Task<int> KillPrimaryAsync()
    {
        var primary = await PrimaryPortAsync();
        var process = _servers[primary];
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        return primary;
    }

    /// <summary>Waits until every Sentinel names a primary other than <paramref name="oldPrimary"/>, and that node answers as a primary.</summary>
    public async Task<int> WaitForFailoverAsync(int oldPrimary, TimeSpan timeout)
    {
        var newPrimary = 0;
        await RedisProcesses.WaitUntilAsync(async () =>
        {
            var seen = new HashSet<int?>();
            foreach (var (port, _) in _sentinels)
            {
                seen.Add(await PrimaryPortFromAsync(port));
            }

            if (seen.Count != 1 || seen.Single() is not { } agreed || agreed == oldPrimary)
            {
                return false;
            }

            await using var node = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", agreed } }, ConnectTimeout = 500, AllowAdmin = true });
            var role = await node.GetServer("127.0.0.1", agreed).RoleAsync();
            newPrimary = agreed;
            return role is Role.Master;
        }, timeout, "the Sentinels to promote a new primary");
        return newPrimary;
    }

    public ValueTask DisposeAsync() => new(RedisProcesses.StopAllAsync(_sentinels.Select(s => s.Process).Concat(_servers.Values), _directory));

    private static async Task<Process> StartServerAsync(string redisServer, int port, int? primary)
    {
        string[] args = ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"];
        if (primary is { } of)
        {
            args = [.. args, "--replicaof", "127.0.0.1", of.ToString(CultureInfo.InvariantCulture)];
        }

        var process = RedisProcesses.Start(redisServer, args);
        await RedisProcesses.WaitUntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on port {port} exited at start.");
            }

            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", port } }, ConnectTimeout = 500 });
                await probe.GetDatabase().PingAsync();
                return true;
            }
            catch (RedisConnectionException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(15), $"redis-server on port {port}");
        return process;
    }

    private static async Task WaitForReplicationAsync(int replica) =>
        await RedisProcesses.WaitUntilAsync(async () =>
        {
            await using var node = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", replica } }, ConnectTimeout = 500, AllowAdmin = true });
            var info = await node.GetServer("127.0.0.1", replica).InfoAsync("replication");
            return info.SelectMany(g => g).Any(p => p.Key == "master_link_status" && p.Value == "up");
        }, TimeSpan.FromSeconds(15), "the replica to sync");

    private static async Task<int?> PrimaryPortFromAsync(int sentinelPort)
    {
        try
        {
            await using var sentinel = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
            {
                EndPoints = { { "127.0.0.1", sentinelPort } },
                CommandMap = CommandMap.Sentinel,
                ConnectTimeout = 500,
                AllowAdmin = true,
            });
            var address = await sentinel.GetServer("127.0.0.1", sentinelPort).SentinelGetMasterAddressByNameAsync(ServiceName);
            return (address as IPEndPoint)?.Port;
        }
        catch (RedisException)
        {
            return null;
        }
    }
}
