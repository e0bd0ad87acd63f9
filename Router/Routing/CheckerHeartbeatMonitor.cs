using System.Globalization;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Hipache's passive/active switch (hipache-compat 2.6): every 30 s read <c>hchecker_ping</c>;
/// while an external checker's heartbeat is younger than 30 s the router only publishes dead
/// messages and leaves the dead sets to the checker. A missing key keeps passive mode on; a
/// non-numeric value turns it off, as in Hipache.
/// </summary>
internal sealed partial class CheckerHeartbeatMonitor(RouteWriter store, TimeProvider time, ILogger<CheckerHeartbeatMonitor> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private volatile bool _passive = true;

    /// <summary>True when this router writes dead sets itself.</summary>
    public bool IsPassive => _passive;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await CheckOnceAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    internal async Task CheckOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var value = await store.ReadCheckerHeartbeatAsync(cancellationToken).ConfigureAwait(false);
            var passive = Decide(value, time.GetUtcNow());
            if (passive != _passive)
            {
                LogModeChanged(logger, passive ? "passive (the router writes dead sets)" : "active (an external checker writes dead sets)");
            }

            _passive = passive;
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            // Keep the last decision: a store outage says nothing about the checker.
        }
    }

    internal static bool Decide(string? heartbeat, DateTimeOffset now)
    {
        if (heartbeat is null)
        {
            return true;
        }

        return double.TryParse(heartbeat, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            && now.ToUnixTimeSeconds() - seconds > Interval.TotalSeconds;
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Health checking is now {Mode}")]
    private static partial void LogModeChanged(ILogger logger, string mode);
}
