using System.Globalization;

namespace Hipache.Aspire.BenchTools;

/// <summary>Nearest-rank percentiles of a sample, in milliseconds, as bench/RESULTS.md reports them.</summary>
internal sealed class Percentiles
{
    private readonly double[] _sorted;

    public Percentiles(IEnumerable<double> values)
    {
        _sorted = [.. values];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double At(double percent)
    {
        if (_sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(percent / 100 * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }

    /// <summary>How many values are at most <paramref name="limit"/>.</summary>
    public int CountAtMost(double limit)
    {
        var index = Array.BinarySearch(_sorted, limit);
        if (index < 0)
        {
            return ~index;
        }

        while (index + 1 < _sorted.Length && _sorted[index + 1] <= limit)
        {
            index++;
        }

        return index + 1;
    }

    public double Max => _sorted.Length == 0 ? double.NaN : _sorted[^1];

    /// <summary><c>name_p50_ms=.. name_p99_ms=.. name_max_ms=..</c>, the form the scripts parse.</summary>
    public string Summary(string name) => string.Create(
        CultureInfo.InvariantCulture,
        $"{name}_n={Count} {name}_p50_ms={At(50):F3} {name}_p99_ms={At(99):F3} {name}_max_ms={Max:F3}");
}
