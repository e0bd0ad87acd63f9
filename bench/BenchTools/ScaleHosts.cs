using System.Globalization;

namespace Hipache.Aspire.BenchTools;

/// <summary>
/// Names of the scale run's frontends. bench/lib/scale-*.lua build the same names
/// (<c>string.format("s%07d.scale.local", i)</c>): change both together.
/// </summary>
internal static class ScaleHosts
{
    public static string Name(int index) => string.Create(CultureInfo.InvariantCulture, $"s{index:D7}.scale.local");
}
