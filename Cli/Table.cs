using System.Text;

namespace Hipache.Aspire.Cli;

/// <summary>Left-aligned columns for people; scripts use --json.</summary>
internal sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public Table Add(params string?[] cells)
    {
        _rows.Add([.. cells.Select(c => c ?? string.Empty)]);
        return this;
    }

    public void WriteTo(TextWriter output)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine(Line(headers, widths));
        foreach (var row in _rows)
        {
            output.WriteLine(Line(row, widths));
        }
    }

    private static string Line(string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Length; i++)
        {
            line.Append(i == cells.Length - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
        }

        return line.ToString().TrimEnd();
    }
}
