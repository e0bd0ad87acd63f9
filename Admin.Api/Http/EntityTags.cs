using Hipache.Aspire.RouteStore;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Admin.Http;

/// <summary>
/// <c>ETag</c>, <c>If-Match</c> and <c>If-None-Match</c> over <see cref="FrontendTag"/>s (RFC 9110
/// section 13). Tags are strong: the list is byte for byte what the tag was computed from.
/// </summary>
internal static class EntityTags
{
    // Matches no tag: what an If-Match made only of weak tags becomes, since If-Match compares strongly.
    private const string NeverMatches = "-";

    public const string InvalidHeader = "Not a list of entity tags (e.g. \"3f1c...\" or *).";

    public static string Format(string tag) => $"\"{tag}\"";

    /// <summary>
    /// The <see cref="FrontendCondition.IfMatch"/> for the request: null without the header,
    /// <c>*</c>, or the strong tags it lists. False when the header is not a list of entity tags.
    /// </summary>
    public static bool TryReadIfMatch(HttpRequest request, out string? condition)
    {
        condition = null;
        var values = request.Headers.IfMatch;
        if (values.Count == 0)
        {
            return true;
        }

        if (!EntityTagHeaderValue.TryParseStrictList(values, out var tags) || tags.Count == 0)
        {
            return false;
        }

        if (tags.Any(t => t.Equals(EntityTagHeaderValue.Any)))
        {
            condition = "*";
            return true;
        }

        // Only tags this API could have issued (40 hex digits) can match; anything else never does.
        var strong = tags.Where(t => !t.IsWeak).Select(t => t.Tag.Value!.Trim('"')).Where(t => t.Length == 40 && t.All(char.IsAsciiHexDigitLower)).ToArray();
        condition = strong.Length == 0 ? NeverMatches : string.Join(',', strong);
        return true;
    }

    /// <summary>True when <c>If-None-Match</c> names <paramref name="tag"/> (weak comparison, as RFC 9110 asks for it) or is <c>*</c>.</summary>
    public static bool IfNoneMatchHits(HttpRequest request, string tag)
    {
        var values = request.Headers.IfNoneMatch;
        if (values.Count == 0 || !EntityTagHeaderValue.TryParseList(values, out var tags))
        {
            return false;
        }

        var current = new EntityTagHeaderValue(Format(tag));
        return tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(current, useStrongComparison: false));
    }
}
