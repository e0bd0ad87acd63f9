using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Hipache.Aspire.RouteStore;

/// <summary>One page of <see cref="RouteReader.ScanFrontendsAsync"/>; <see cref="Next"/> is null on the last page.</summary>
public sealed record FrontendPage(IReadOnlyList<Frontend> Items, ScanPosition? Next);

/// <summary>
/// Where a frontend scan resumes: a Redis SCAN cursor, and, when the batch that cursor returns
/// was split between two pages, the SCAN COUNT that produced it and the last key already returned
/// (keys of a batch are handed out in ordinal order). On Redis Cluster, also which primary the walk
/// is on (<see cref="Node"/>, in endpoint order: SCAN is per node). Clients see it as an opaque token.
/// </summary>
public readonly record struct ScanPosition(ulong Cursor, int Count, string? After, int Node = 0)
{
    public static ScanPosition Start => default;

    /// <summary>URL-safe base64 of <c>[node.]cursor|count|after</c>: opaque, so that its shape can change.</summary>
    public string Encode() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Node == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{Cursor}|{Count}|{After}")
            : string.Create(CultureInfo.InvariantCulture, $"{Node}.{Cursor}|{Count}|{After}")));

    public static bool TryDecode(string? token, out ScanPosition position)
    {
        position = Start;
        if (string.IsNullOrEmpty(token))
        {
            return true;
        }

        string text;
        try
        {
            text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (FormatException)
        {
            return false;
        }

        // The key comes last and may itself contain '|' (redis-cli users write anything).
        var parts = text.Split('|', 3);
        if (parts.Length != 3)
        {
            return false;
        }

        var node = 0;
        var cursorText = parts[0];
        var dot = cursorText.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            if (!int.TryParse(cursorText.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out node))
            {
                return false;
            }

            cursorText = cursorText[(dot + 1)..];
        }

        if (!ulong.TryParse(cursorText, NumberStyles.None, CultureInfo.InvariantCulture, out var cursor)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return false;
        }

        position = new ScanPosition(cursor, count, parts[2].Length == 0 ? null : parts[2], node);
        return true;
    }
}
