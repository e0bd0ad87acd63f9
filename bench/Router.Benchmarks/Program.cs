using BenchmarkDotNet.Running;
using Hipache.Aspire.Router.Benchmarks;

// dotnet run -c Release --project bench/Router.Benchmarks -- --filter '*'
// dotnet run -c Release --project bench/Router.Benchmarks -- --allocations [Native|Yarp] [requests]
if (args is ["--allocations", ..])
{
    AllocationProfile.Run(args.Length > 1 ? args[1] : "Native", args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 200_000);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(HotPathBenchmarks).Assembly).Run(args);
