using BenchmarkDotNet.Attributes;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Benchmarks;

/// <summary>
/// The per-request work before forwarding: Host normalisation and the cache probe run on every
/// request and must not allocate; candidate keys and backend parsing run only on a cache miss.
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> _cache = new(StringComparer.Ordinal);
    private System.Collections.Concurrent.ConcurrentDictionary<string, object>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _candidates = new string[CandidateKeys.MaxCandidates];

    [Params("www.example.com", "Shop.Example.ORG:8080")]
    public string Host { get; set; } = string.Empty;

    [GlobalSetup]
    public void Setup()
    {
        for (var i = 0; i < 10_000; i++)
        {
            _cache[$"v{i:D5}.bench.local"] = new object();
        }

        _cache["www.example.com"] = new object();
        _cache["shop.example.org"] = new object();
        _lookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    [Benchmark(Baseline = true)]
    public int NormalizeHost()
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        HostNormalizer.Normalize(Host, buffer, out var length);
        return length;
    }

    /// <summary>What a cache hit costs: normalise into a stack buffer and probe with the span (RouteCache.TryGetFresh's shape).</summary>
    [Benchmark]
    public bool NormalizeAndProbe()
    {
        Span<char> buffer = stackalloc char[HostNormalizer.MaxHostLength];
        HostNormalizer.Normalize(Host, buffer, out var length);
        return _lookup.TryGetValue(buffer[..length], out _);
    }

    [Benchmark]
    public int CandidateKeysOnMiss() => CandidateKeys.Fill("api.shop.example.org", _candidates);

    [Benchmark]
    public bool ParseBackendOnMiss() => BackendAddress.Parse("http://10.0.0.7:8080").IsValid;
}
