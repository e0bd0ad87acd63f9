using System.Diagnostics;
using System.Globalization;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.BenchTools;

/// <summary>
/// <c>dead-marks</c>: how soon every router honours a dead mark made by another. Per trial: a
/// frontend with two backends and round-robin balancing, served by every router with both live;
/// then the mark a router makes (RouteWriter.MarkDeadAsync: SADD and TTL on the dead set, PUBLISH
/// on <c>dead</c>) on backend 0; then each router is polled, all at once, two requests at a time
/// with <c>X-Debug</c> (routers need <c>Router:Debug=true</c>): it honours the mark once both
/// answers came from backend 1 (round-robin over both would alternate). The delay of a trial is
/// the time from the mark's return to the last router honouring it.
/// </summary>
internal static class DeadMarkPropagation
{
    public static async Task<int> RunAsync(CommandLine options, CancellationToken cancellationToken)
    {
        var routers = options.Required("router").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r => new Uri(r)).ToArray();
        var backends = (options.Text("backends") ?? "http://127.0.0.1:21201,http://127.0.0.1:21202").Split(',', StringSplitOptions.TrimEntries);
        if (backends.Length != 2)
        {
            throw new ArgumentException("--backends takes exactly two URLs.");
        }

        var trials = options.Int("trials", 200);
        await using var connections = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = options.Required("redis"), OperationTimeout = TimeSpan.FromSeconds(10) });
        var writer = new RouteWriter(connections);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan }) { Timeout = TimeSpan.FromSeconds(10) };
        var delays = new List<double>(trials);
        var firstPoll = 0;
        var timeouts = 0;
        for (var t = 0; t < trials && !cancellationToken.IsCancellationRequested; t++)
        {
            var host = string.Create(CultureInfo.InvariantCulture, $"dm{t:D5}.deadmark.local");
            await writer.ReplaceFrontendAsync(host, "deadmark", backends, cancellationToken).ConfigureAwait(false);
            await writer.SetBalancingAsync(host, new Balancing(BalancingPolicy.RoundRobin, null, new Dictionary<string, int>()), cancellationToken).ConfigureAwait(false);
            // Every router serves the frontend with both backends live before the mark.
            var ready = await Task.WhenAll(routers.Select(r => PollAsync(http, r, host, wanted: both => both.Contains("0") && both.Contains("1"), TimeSpan.FromSeconds(5), cancellationToken))).ConfigureAwait(false);
            if (ready.Any(r => r.Ms is null))
            {
                timeouts++;
                continue;
            }

            await writer.MarkDeadAsync(host, backends[0].TrimEnd('/') + "/", 0, 2, TimeSpan.FromMinutes(5), writeDeadSet: true).ConfigureAwait(false);
            var honoured = await Task.WhenAll(routers.Select(r => PollAsync(http, r, host, wanted: both => both is ["1", "1"], TimeSpan.FromSeconds(10), cancellationToken))).ConfigureAwait(false);
            if (honoured.Any(r => r.Ms is null))
            {
                timeouts++;
                continue;
            }

            delays.Add(honoured.Max(r => r.Ms!.Value));
            if (honoured.All(r => r.Polls == 1))
            {
                firstPoll++;
            }
        }

        var p = new Percentiles(delays);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT deadmark routers={routers.Length} trials={delays.Count} {p.Summary("honoured_by_all")} within_5ms_pct={100.0 * p.CountAtMost(5) / Math.Max(1, p.Count):F2} all_on_first_poll={firstPoll} timeouts={timeouts}"));
        return timeouts == 0 ? 0 : 1;
    }

    /// <summary>Pairs of requests to <paramref name="router"/> until the two backend ids satisfy <paramref name="wanted"/>: the time it took and the pairs sent, or a null time after <paramref name="timeout"/>.</summary>
    private static async Task<(double? Ms, int Polls)> PollAsync(HttpClient http, Uri router, string host, Func<string[], bool> wanted, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var polls = 0;
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            polls++;
            var ids = new string[2];
            for (var i = 0; i < 2; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, router);
                request.Headers.Host = host;
                request.Headers.Add("X-Debug", "1");
                using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                ids[i] = response.Headers.TryGetValues("x-debug-backend-id", out var values) ? values.First() : "-";
            }

            if (wanted(ids))
            {
                return (Stopwatch.GetElapsedTime(started).TotalMilliseconds, polls);
            }
        }

        return (null, polls);
    }
}
