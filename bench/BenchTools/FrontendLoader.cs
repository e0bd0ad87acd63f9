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

        return new FrontendLoaderOptions(args.Required("redis"), args.Int("count", 1_000_000), backends, args.Int("concurrency", 512));
    }
}

/// <summary>
/// Writes the scale run's table with <see cref="RouteWriter.ReplaceFrontendAsync"/>, the same
/// atomic write (and change message) every other writer of this project makes. Speed comes from
/// keeping many writes in flight on one multiplexer, which pipelines them into few socket writes.
/// </summary>
internal static class FrontendLoader
{
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

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken };
        await Parallel.ForAsync(0, options.Count, parallel, async (i, ct) =>
        {
            var host = ScaleHosts.Name(i);
            await writer.ReplaceFrontendAsync(host, host, i % 2 == 0 ? both : one, ct).ConfigureAwait(false);
            Interlocked.Increment(ref written);
        }).ConfigureAwait(false);

        var seconds = clock.Elapsed.TotalSeconds;
        Console.Out.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"RESULT frontends={options.Count} seconds={seconds:F1} frontends_per_s={options.Count / seconds:F0} first={ScaleHosts.Name(0)} last={ScaleHosts.Name(options.Count - 1)}"));
        return 0;
    }
}
