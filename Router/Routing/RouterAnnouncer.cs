using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Keeps this router's announcement in the router registry (<see cref="RouterRegistry"/>): every
/// Router:RegistryHeartbeat, with a TTL of Router:RegistryTtl, and withdrawn on a clean stop. The
/// admin API lists the announcements and waits for their routers' answers to fences (?wait=).
/// </summary>
internal sealed partial class RouterAnnouncer(
    RouterRegistry registry,
    RouterInstance instance,
    RouterListeners listeners,
    RouteCache cache,
    ChangeFeed feed,
    RouteChangeListener listener,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IOptions<RouterOptions> options,
    ILogger<RouterAnnouncer> logger) : BackgroundService
{
    private bool _announced;
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var heartbeat = options.Value.RegistryHeartbeat;
        var ttl = options.Value.RegistryTtl;
        try
        {
            // A router is announced once it listens (its addresses are bound: hosted services start
            // before Kestrel) and hears changes (a writer waiting on it must get its answer).
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            }

            await listener.Subscribed.WaitAsync(stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(heartbeat, time);
            do
            {
                await AnnounceOnceAsync(ttl, stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!_announced)
        {
            return;
        }

        try
        {
            await registry.WithdrawAsync(instance.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException)
        {
            // The announcement expires by itself after Router:RegistryTtl.
            LogWithdrawFailed(logger, ex.Message);
        }
    }

    private async Task AnnounceOnceAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        var (mode, reason, _) = feed.Describe();
        var last = instance.LastChangeApplied;
        var management = listeners.ManagementPort > 0 ? $"http://{listeners.ManagementHost}:{listeners.ManagementPort}" : null;
        var announcement = new RouterAnnouncement(
            instance.Id,
            instance.Version,
            listeners.RoutedAddresses,
            management,
            instance.StartedAt,
            time.GetUtcNow(),
            cache.Count,
            $"{(mode == ChangeFeedMode.Push ? "push" : "poll")}: {reason}",
            last?.Key,
            last?.At);
        try
        {
            await registry.AnnounceAsync(announcement, ttl, cancellationToken).ConfigureAwait(false);
            if (!_announced || _failing)
            {
                LogAnnounced(logger, instance.Id, announcement.Addresses);
            }

            _announced = true;
            _failing = false;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            if (!_failing)
            {
                LogAnnounceFailed(logger, ex.Message);
            }

            _failing = true;
        }
    }

    [LoggerMessage(EventId = 90, Level = LogLevel.Information, Message = "Announced in the router registry as {RouterId} ({Addresses})")]
    private static partial void LogAnnounced(ILogger logger, string routerId, IReadOnlyList<string> addresses);

    [LoggerMessage(EventId = 91, Level = LogLevel.Warning, Message = "Could not announce this router in the registry ({Reason}); retrying every heartbeat")]
    private static partial void LogAnnounceFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 92, Level = LogLevel.Warning, Message = "Could not withdraw this router from the registry ({Reason}); it expires by itself")]
    private static partial void LogWithdrawFailed(ILogger logger, string reason);
}
