using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Auth;

/// <summary>
/// Logs one warning per <see cref="AdminOptions.FailedAuthLogInterval"/> in which requests were
/// refused for want of a valid key: how many, how many guessed a key, from how many addresses.
/// Quiet intervals log nothing. What is left at shutdown is reported too.
/// </summary>
internal sealed partial class FailedAuthReporter(FailedAuthCounter counter, IOptions<AdminOptions> options, ILogger<FailedAuthReporter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.FailedAuthLogInterval;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Report(interval);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            Report(interval);
        }
    }

    private void Report(TimeSpan interval)
    {
        var window = counter.Take();
        if (window.Refused > 0)
        {
            LogRefused(logger, window.Refused, window.WrongKey, window.ClientsCapped ? "at least " : string.Empty, window.Clients, interval.TotalSeconds);
        }
    }

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning,
        Message = "{Refused} admin API request(s) refused with 401 ({WrongKey} with a wrong key) from {ClientsQualifier}{Clients} client address(es) in the last {IntervalSeconds} s")]
    private static partial void LogRefused(ILogger logger, long refused, long wrongKey, string clientsQualifier, int clients, double intervalSeconds);
}
