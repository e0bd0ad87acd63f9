using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// The read and write connections to the routing table (one multiplexer when both are the same
/// server). Connecting never blocks start-up on a Redis that is down: the multiplexers reconnect
/// by themselves (Q20).
/// </summary>
public sealed class RedisConnections : IAsyncDisposable
{
    private RedisConnections(ConfigurationOptions readOptions, ConnectionMultiplexer read, ConnectionMultiplexer write, int readDatabase, int writeDatabase, RouteKeys keys, string description, RouteStoreOptions options)
    {
        ReadOptions = readOptions;
        ReadFromReplicas = options.ReadFromReplicas;
        ReplicaLagBound = options.ReplicaLagBound;
        ReadMultiplexer = read;
        WriteMultiplexer = write;
        Read = read.GetDatabase(readDatabase);
        Write = write.GetDatabase(writeDatabase);
        ReadDatabaseNumber = readDatabase;
        Keys = keys;
        Description = description;
    }

    /// <summary>
    /// What the read connection was made from (credentials included): for a connection of the
    /// router's own to the same server, never to be logged.
    /// </summary>
    public ConfigurationOptions ReadOptions { get; }

    public ConnectionMultiplexer ReadMultiplexer { get; }

    public ConnectionMultiplexer WriteMultiplexer { get; }

    public IDatabase Read { get; }

    public IDatabase Write { get; }

    /// <summary>The database lookups use, needed for keyspace notification channel names.</summary>
    public int ReadDatabaseNumber { get; }

    public RouteKeys Keys { get; }

    /// <summary><see cref="RouteStoreOptions.ReadFromReplicas"/>.</summary>
    public bool ReadFromReplicas { get; }

    /// <summary><see cref="RouteStoreOptions.ReplicaLagBound"/>.</summary>
    public TimeSpan ReplicaLagBound { get; }

    /// <summary>Where the connections go, with passwords removed, for logs and health output.</summary>
    public string Description { get; }

    public bool IsConnected => ReadMultiplexer.IsConnected && WriteMultiplexer.IsConnected;

    /// <summary>
    /// Whether the store is a Redis Cluster, asked of the server (<c>INFO cluster</c>): the
    /// multiplexer's own view may not be settled yet right after a connect that did not wait.
    /// A server without that section (Garnet, a proxy) is not a cluster.
    /// </summary>
    public async Task<bool> IsClusterAsync()
    {
        try
        {
            var info = (string?)await Read.ExecuteAsync("INFO", "cluster").ConfigureAwait(false);
            return info?.Contains("cluster_enabled:1", StringComparison.Ordinal) == true;
        }
        catch (RedisServerException)
        {
            return false;
        }
    }

    public static RedisConnections Connect(RouteStoreOptions options, TextWriter? connectLog = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        string[] urls = options.Driver.Count > 0 ? [.. options.Driver]
            : !string.IsNullOrWhiteSpace(options.ConnectionString) ? [options.ConnectionString]
            : throw new InvalidOperationException(
                "No Redis is configured: set ConnectionStrings:redis (ConnectionStrings__redis), RouteStore:ConnectionString or RouteStore:Driver.");

        var readEndpoint = StoreEndpoint.Parse(urls[0]);
        var writeEndpoint = urls.Length > 1 ? StoreEndpoint.Parse(urls[^1]) : readEndpoint;
        var keys = new RouteKeys(options.KeyPrefix ?? readEndpoint.Prefix);

        var readOptions = Prepare(readEndpoint.Options, options);
        var read = ConnectionMultiplexer.Connect(readOptions, connectLog);
        var write = ReferenceEquals(writeEndpoint, readEndpoint) ? read : ConnectionMultiplexer.Connect(Prepare(writeEndpoint.Options, options), connectLog);
        var description = urls.Length > 1
            ? $"read {StoreEndpoint.Redact(urls[0])}, write {StoreEndpoint.Redact(urls[^1])}"
            : StoreEndpoint.Redact(urls[0]);
        return new RedisConnections(readOptions.Clone(), read, write, readEndpoint.Database, writeEndpoint.Database, keys, description, options);
    }

    private static ConfigurationOptions Prepare(ConfigurationOptions source, RouteStoreOptions options)
    {
        var prepared = source.Clone();
        prepared.AbortOnConnectFail = false;
        prepared.ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds;
        prepared.AsyncTimeout = (int)options.OperationTimeout.TotalMilliseconds;
        prepared.SyncTimeout = (int)options.OperationTimeout.TotalMilliseconds;
        prepared.ConnectRetry = 1;
        // The library's default backs off to 10 s between reconnect attempts; a router that has
        // lost its routing table should be back within a couple of seconds of Redis.
        prepared.ReconnectRetryPolicy ??= new ExponentialRetry(deltaBackOffMilliseconds: 200, maxDeltaBackOffMilliseconds: 2000);
        prepared.ClientName ??= "hipache-aspire";
        // CONFIG GET/SET of notify-keyspace-events; servers that forbid it simply refuse.
        prepared.AllowAdmin = true;
        return prepared;
    }

    public async ValueTask DisposeAsync()
    {
        await ReadMultiplexer.DisposeAsync().ConfigureAwait(false);
        if (!ReferenceEquals(ReadMultiplexer, WriteMultiplexer))
        {
            await WriteMultiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
