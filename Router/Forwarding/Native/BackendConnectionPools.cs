using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Routing;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// One <see cref="BackendConnectionPool"/> per backend address, created on first use; a timer
/// closes idle connections past their idle timeout and drops pools nobody used for as long, so
/// that 100k tenants' backends do not keep 100k pools.
/// </summary>
internal sealed class BackendConnectionPools : IDisposable
{
    private static readonly TimeSpan ScavengeInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, BackendConnectionPool> _pools = new(StringComparer.Ordinal);
    private readonly Func<string, BackendConnectionPool> _create;
    private readonly Timer _scavenger;

    public BackendConnectionPools(IOptions<RouterOptions> options, IServiceProvider services)
    {
        var maxSockets = options.Value.MaxSockets;
        // With Router:IoEngine=Epoll, backend connections live on the client connections' loops.
        var loops = options.Value.IoEngine == IoEngineKind.Epoll ? services.GetService(typeof(Io.EpollLoops)) as Io.EpollLoops : null;
        _create = prefix => new BackendConnectionPool(EndPointOf(prefix), maxSockets, loops);
        _scavenger = new Timer(static state => ((BackendConnectionPools)state!).Scavenge(), this, ScavengeInterval, ScavengeInterval);
    }

    /// <summary>The pool of <paramref name="backend"/>, keyed by its <c>http://host:port</c>.</summary>
    public BackendConnectionPool For(BackendAddress backend) => _pools.GetOrAdd(backend.DestinationPrefix!, _create);

    /// <summary>Pools currently held (for tests and diagnostics).</summary>
    public int Count => _pools.Count;

    private void Scavenge()
    {
        var now = Environment.TickCount64;
        foreach (var (key, pool) in _pools)
        {
            if (pool.Scavenge(now))
            {
                _pools.TryRemove(new KeyValuePair<string, BackendConnectionPool>(key, pool));
                pool.Dispose();
            }
        }
    }

    /// <summary>
    /// <c>http://host:port</c> to an endpoint: an IP literal is parsed once; a name is resolved on
    /// every connect, as Hipache did (hipache-compat 2.3), so DNS changes are followed.
    /// </summary>
    private static EndPoint EndPointOf(string destinationPrefix)
    {
        var authority = destinationPrefix["http://".Length..];
        var colon = authority.LastIndexOf(':');
        var host = authority[..colon];
        var port = int.Parse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture);
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        return IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);
    }

    public void Dispose()
    {
        _scavenger.Dispose();
        foreach (var pool in _pools.Values)
        {
            pool.Dispose();
        }

        _pools.Clear();
    }
}
