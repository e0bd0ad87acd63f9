using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// A real Redis Cluster of three primaries (no replicas) on loopback: <c>redis-server
/// --cluster-enabled yes</c> per node, joined with <c>redis-cli --cluster create</c>. Ports are
/// taken below 55535 so that each node's cluster bus (port + 10000) exists.
/// </summary>
public sealed class TestClusterRedis : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hipache-cluster-").FullName;
    private readonly List<(int Port, Process Process)> _nodes = [];

    private TestClusterRedis()
    {
    }

    /// <summary>Every node, so that a client finds the cluster even with one node down.</summary>
    public string ConnectionString => string.Join(",", _nodes.Select(n => $"127.0.0.1:{n.Port}"));

    public IReadOnlyList<int> Ports => [.. _nodes.Select(n => n.Port)];

    public static async Task<TestClusterRedis> StartAsync()
    {
        var redisServer = RedisProcesses.Find("redis-server") ?? throw new InvalidOperationException("redis-server is not on PATH: the cluster topology needs it (apt-get install redis-server).");
        var redisCli = RedisProcesses.Find("redis-cli") ?? throw new InvalidOperationException("redis-cli is not on PATH (apt-get install redis-tools).");
        var cluster = new TestClusterRedis();
        try
        {
            foreach (var port in ClusterPorts(3))
            {
                var directory = Directory.CreateDirectory(Path.Combine(cluster._directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
                cluster._nodes.Add((port, RedisProcesses.Start(redisServer,
                    "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "no",
                    "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(directory, "nodes.conf"), "--cluster-node-timeout", "2000",
                    "--dir", directory, "--save", "", "--appendonly", "no")));
            }

            foreach (var (port, _) in cluster._nodes)
            {
                await RedisProcesses.WaitUntilAsync(() => PingAsync(port), TimeSpan.FromSeconds(15), $"cluster node {port}");
            }

            string[] create = ["--cluster", "create", .. cluster._nodes.Select(n => $"127.0.0.1:{n.Port}"), "--cluster-replicas", "0", "--cluster-yes"];
            using (var join = RedisProcesses.Start(redisCli, create))
            {
                await join.WaitForExitAsync();
                if (join.ExitCode != 0)
                {
                    throw new InvalidOperationException($"redis-cli --cluster create exited with {join.ExitCode}.");
                }
            }

            foreach (var (port, _) in cluster._nodes)
            {
                await RedisProcesses.WaitUntilAsync(() => ClusterOkAsync(port), TimeSpan.FromSeconds(30), $"cluster_state:ok on {port}");
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => new(RedisProcesses.StopAllAsync(_nodes.Select(n => n.Process), _directory));

    private static async Task<bool> PingAsync(int port)
    {
        try
        {
            await using var node = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", port } }, ConnectTimeout = 500 });
            await node.GetServer("127.0.0.1", port).PingAsync();
            return true;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }

    private static async Task<bool> ClusterOkAsync(int port)
    {
        await using var node = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { { "127.0.0.1", port } }, ConnectTimeout = 500, AllowAdmin = true });
        var info = (string?)await node.GetServer("127.0.0.1", port).ExecuteAsync("CLUSTER", "INFO");
        return info?.Contains("cluster_state:ok", StringComparison.Ordinal) == true;
    }

    /// <summary>Free loopback ports whose port + 10000 (the cluster bus) is free too.</summary>
    private static IEnumerable<int> ClusterPorts(int count)
    {
        var taken = new HashSet<int>();
        while (taken.Count < count)
        {
            var port = Random.Shared.Next(20000, 55000);
            if (!taken.Contains(port) && !taken.Contains(port + 10000) && IsFree(port) && IsFree(port + 10000))
            {
                taken.Add(port);
                yield return port;
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
