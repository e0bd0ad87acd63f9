namespace Hipache.Aspire.RouteStore;

/// <summary>
/// A marker published on <see cref="RouteKeys.ChangeChannel"/> after a write, to learn which
/// routers serve it. Redis delivers a channel's messages in publication order and routers apply
/// that channel's messages one at a time, so a router that answers the fence on
/// <see cref="RouteKeys.AckChannel"/> has applied every change published before it. The marker
/// cannot be a frontend key (those are never published with this prefix), so a router that does not
/// know fences drops a cache entry that does not exist and answers nothing: it shows as pending.
/// </summary>
public static class ChangeFence
{
    private const string Marker = "\u0001fence:";

    public static string Message(string token) => Marker + token;

    public static bool TryReadMessage(string message, out string token)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.StartsWith(Marker, StringComparison.Ordinal) && message.Length > Marker.Length)
        {
            token = message[Marker.Length..];
            return true;
        }

        token = string.Empty;
        return false;
    }

    private const string RateMarker = "\u0001rate:";

    /// <summary>
    /// A question in the same stream: how many requests did each router route for
    /// <paramref name="frontendKey"/> in the last full second? Answered like a fence, with the count.
    /// </summary>
    public static string RateQuery(string token, string frontendKey) => RateMarker + token + ":" + frontendKey;

    public static bool TryReadRateQuery(string message, out string token, out string frontendKey)
    {
        ArgumentNullException.ThrowIfNull(message);
        token = frontendKey = string.Empty;
        if (!message.StartsWith(RateMarker, StringComparison.Ordinal))
        {
            return false;
        }

        var colon = message.IndexOf(':', RateMarker.Length);
        if (colon <= RateMarker.Length || colon == message.Length - 1)
        {
            return false;
        }

        token = message[RateMarker.Length..colon];
        frontendKey = message[(colon + 1)..];
        return true;
    }

    public static string Ack(string token, string routerId) => token + " " + routerId;

    public static string Ack(string token, string routerId, long value) => token + " " + routerId + " " + value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static bool TryReadAck(string ack, out string token, out string routerId) => TryReadAck(ack, out token, out routerId, out _);

    /// <summary>An answer: <c>&lt;token&gt; &lt;router id&gt;</c>, and for a rate query <c> &lt;count&gt;</c>.</summary>
    public static bool TryReadAck(string ack, out string token, out string routerId, out long? value)
    {
        ArgumentNullException.ThrowIfNull(ack);
        token = routerId = string.Empty;
        value = null;
        var parts = ack.Split(' ');
        if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            return false;
        }

        if (parts.Length == 3)
        {
            if (!long.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            value = number;
        }

        token = parts[0];
        routerId = parts[1];
        return true;
    }
}
