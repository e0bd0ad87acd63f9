using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// A test's own connections to a router's keys, for writing as the admin API would: the router's
/// connection has a 1 s operation bound, which a loaded CI machine was seen to exceed on a test's write.
/// </summary>
internal sealed class OwnStoreConnections(TestRedis redis) : IAsyncDisposable
{
    private readonly List<RedisConnections> _opened = [];

    public RedisConnections For(RunningRouter router)
    {
        var connections = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = redis.ConnectionString, KeyPrefix = router.Prefix, OperationTimeout = TimeSpan.FromSeconds(15) });
        _opened.Add(connections);
        return connections;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var connections in _opened)
        {
            await connections.DisposeAsync();
        }
    }
}
