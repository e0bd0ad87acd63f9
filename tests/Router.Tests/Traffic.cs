using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Requests sent in a loop by a few concurrent clients while a test breaks something, recording
/// every outcome and the slowest answer, so a fault test can say "no request failed and none
/// hung" rather than sampling one request before and after.
/// </summary>
internal sealed class Traffic : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly ConcurrentDictionary<string, int> _outcomes = new(StringComparer.Ordinal);
    private long _slowestTicks;
    private int _total;

    private Traffic(RunningRouter router, string host, int clients)
    {
        _workers = [.. Enumerable.Range(0, clients).Select(_ => Task.Run(() => RunAsync(router, host)))];
    }

    public int Total => Volatile.Read(ref _total);

    public TimeSpan Slowest => TimeSpan.FromTicks(Interlocked.Read(ref _slowestTicks));

    /// <summary>Outcome ("200", "502", "HttpRequestException: ...") -> count.</summary>
    public IReadOnlyDictionary<string, int> Outcomes => _outcomes;

    public static Traffic Start(RunningRouter router, string host, int clients = 4) => new(router, host, clients);

    /// <summary>Waits until at least <paramref name="more"/> further requests were answered, so each phase of a test is really under load.</summary>
    public async Task WaitForAsync(int more, TimeSpan? timeout = null)
    {
        var target = Total + more;
        await Hipache.Aspire.TestSupport.Poll.UntilAsync(() => Task.FromResult(Total), n => n >= target, timeout ?? TimeSpan.FromSeconds(20), $"{more} more requests");
    }

    public async Task<Traffic> StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        return this;
    }

    /// <summary>
    /// Every answer so far was one of <paramref name="statuses"/> and, with <paramref name="bound"/>,
    /// none took that long or longer.
    /// </summary>
    public void AssertOnly(TimeSpan? bound, params string[] statuses)
    {
        Assert.True(_outcomes.Keys.All(statuses.Contains), Describe());
        if (bound is { } limit)
        {
            Assert.True(Slowest < limit, Describe());
        }
    }

    public string Describe() => $"{Total} requests, slowest {Slowest.TotalMilliseconds:F0} ms: " + string.Join(", ", _outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} x{o.Value}"));

    private async Task RunAsync(RunningRouter router, string host)
    {
        while (!_stop.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            string outcome;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/") { Headers = { Host = host } };
                using var response = await router.Client.SendAsync(request, _stop.Token);
                await response.Content.ReadAsStringAsync(_stop.Token);
                outcome = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException ex)
            {
                outcome = $"{nameof(HttpRequestException)}: {ex.Message}";
            }

            var elapsed = Stopwatch.GetElapsedTime(started).Ticks;
            for (var slowest = Interlocked.Read(ref _slowestTicks); elapsed > slowest; slowest = Interlocked.Read(ref _slowestTicks))
            {
                if (Interlocked.CompareExchange(ref _slowestTicks, elapsed, slowest) == slowest)
                {
                    break;
                }
            }

            _outcomes.AddOrUpdate(outcome, 1, static (_, n) => n + 1);
            Interlocked.Increment(ref _total);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
