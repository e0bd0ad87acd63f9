using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Router.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Hipache.Aspire.Router.Benchmarks.HotPathBenchmarks).Assembly).Run(args);
