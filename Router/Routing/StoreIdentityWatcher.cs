using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Notices that Redis is no longer the store the cached routes came from: FLUSHALL/FLUSHDB emit
/// no keyspace notification and no change message, and a new empty server behind the same
/// address (a failover without replication, a container recreated without its volume) may come
/// back without the client ever seeing a reconnect it can tell apart. Every router keeps the
/// marker key set (first SET NX wins) and reads it every <see cref="RouterOptions.StoreCheckInterval"/>;
/// when it is gone or holds another token, every cached route is read again, so routes that are
/// really gone stop being served at once instead of after Router:RouteCacheTtl.
/// </summary>
internal sealed partial class StoreIdentityWatcher(
    RedisConnections connections,
    RouteCache cache,
    Tls.CertificateSelector certificates,
    IOptions<RouterOptions> options,
    ILogger<StoreIdentityWatcher> logger) : BackgroundService
{
    private readonly string _ownToken = Guid.NewGuid().ToString("N");
    private string? _lastSeen;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.StoreCheckInterval);
        try
        {
            do
            {
                await CheckAsync().ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CheckAsync()
    {
        try
        {
            var key = connections.Keys.StoreMarkerKey;
            var current = (string?)await connections.Read.StringGetAsync(key).ConfigureAwait(false);
            var changed = _lastSeen is not null && current != _lastSeen;
            var gone = current is null;
            if (gone)
            {
                // Claim it (another router may win the race) and remember whichever token won,
                // so that a flush right after this check is still seen as a change.
                await connections.Write.StringSetAsync(key, _ownToken, when: When.NotExists).ConfigureAwait(false);
                current = (string?)await connections.Write.StringGetAsync(key).ConfigureAwait(false);
            }

            if (changed)
            {
                LogStoreChanged(logger, gone ? "was gone (flushed?)" : "holds another token (another server, or flushed and claimed by another router)");
                cache.InvalidateAll();
                certificates.InvalidateAll();
            }

            _lastSeen = current;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis is down: stale-if-error is serving, the reconnect re-reads everything.
        }
    }

    [LoggerMessage(EventId = 35, Level = LogLevel.Warning, Message = "The routing store's marker key {State}: every cached route will be read again")]
    private static partial void LogStoreChanged(ILogger logger, string state);
}
