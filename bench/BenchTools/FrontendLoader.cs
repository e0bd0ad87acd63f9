using System.Diagnostics;
using System.Globalization;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.BenchTools;

internal sealed record FrontendLoaderOptions(string Redis, int Count, IReadOnlyList<string> Backends, int Concurrency)
{
    public static FrontendLoaderOptions From(CommandLine args)
    {
        var backends = (args.Text("backends") ?? "http://127.0.0.1:21201,http://127.0.0.1:21202")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (backends.Length is < 1 or > 2)
        {
            throw new ArgumentException("--backends takes one or two URLs.");
        }

        return new FrontendLoaderOptions(args.Required("redis"), args.Int("count", 1_000_000), backends, args.Int("concurrency", 4));
    }
}

/// <summary>
/// Writes the scale run's table with <see cref="RouteWriter.ReplaceFrontendsAsync"/>: per frontend
/// the same atomic write, dead-set drop and change message as every other writer of this project,
/// pipelined in batches. One write per frontend with its three round trips ran at ~15k frontends/s,
/// bound by the client's CPU (a minute for a million).
/// </summary>
internal static class FrontendLoader
{
    private const int BatchSize = 1000;

    public static async Task<int> RunAsync(FrontendLoaderOptions options, CancellationToken cancellationToken)
    {
        var storeOptions = new RouteStoreOptions
        {
            ConnectionString = options.Redis,
            // Thousands of queued commands: the 1 s default is a request-path bound, not a bulk-load one.
            OperationTimeout = TimeSpan.FromSeconds(30),
        };
        await using var connections = RedisConnections.Connect(storeOptions);
        if (!connections.IsConnected)
        {
            Console.Error.WriteLine($"Redis at {connections.Description} is not reachable.");
            return 1;
        }

        var writer = new RouteWriter(connections);
        IReadOnlyList<string> one = [options.Backends[0]];
        var both = options.Backends;
        var written = 0L;
        var clock = Stopwatch.StartNew();
        using var progress = new Timer(
            _ => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {Interlocked.Read(ref written):N0} written, {clock.Elapsed.TotalSeconds:F1} s")),
            null,
            TimeSpan.FromSeconds(5),
            TimeSpan.FromSeconds(5));

        // Batches of BatchSize frontends, Concurrency batches in flight: each batch is one
        // pipelined write of RouteWriter.ReplaceFrontendsAsync, so Redis, not the round trips,
        // sets the pace.
        var batches = (options.Count + BatchSize - 1) / BatchSize;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken };
        await Parallel.ForAsync(0, batches, parallel, async (batch, ct) =>
        {
            var first = batch * BatchSize;
            var frontends = new Frontend[Math.Min(BatchSize, options.Count - first)];
            for (var j = 0; j < frontends.Length; j++)
            {
                var host = ScaleHosts.Name(first + j);
                frontends[j] = new Frontend(host, host, (first + j) % 2 == 0 ? both : one);
            }

            await writer.ReplaceFrontendsAsync(frontends, ct).ConfigureAwait(false);
            Interlocked.Add(ref written, frontends.Length);
        }).ConfigureAwait(false);

        var seconds = clock.Elapsed.TotalSeconds;
        Console.Out.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"RESULT frontends={options.Count} seconds={seconds:F1} frontends_per_s={options.Count / seconds:F0} first={ScaleHosts.Name(0)} last={ScaleHosts.Name(options.Count - 1)}"));
        return 0;
    }
}
