using System.Globalization;

namespace Hipache.Aspire.Router.Routing;

/// <summary>A set of HTTP statuses written as <c>502,504-599</c>.</summary>
internal sealed class StatusSet
{
    private readonly bool[] _member = new bool[600];

    private StatusSet()
    {
    }

    public bool Contains(int status) => status is >= 0 and < 600 && _member[status];

    public static bool TryParse(string? text, out StatusSet set, out string? error)
    {
        set = new StatusSet();
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var low = dash < 0 ? part : part[..dash];
            var high = dash < 0 ? part : part[(dash + 1)..];
            if (!int.TryParse(low, NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                || !int.TryParse(high, NumberStyles.None, CultureInfo.InvariantCulture, out var to)
                || from is < 500 or > 599 || to is < 500 or > 599 || to < from)
            {
                error = $"'{part}' is not a 5xx status or range (e.g. 502,504-599).";
                return false;
            }

            for (var s = from; s <= to; s++)
            {
                set._member[s] = true;
            }
        }

        return true;
    }
}
