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

    public static string Ack(string token, string routerId) => token + " " + routerId;

    public static bool TryReadAck(string ack, out string token, out string routerId)
    {
        ArgumentNullException.ThrowIfNull(ack);
        var space = ack.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0 && space < ack.Length - 1)
        {
            token = ack[..space];
            routerId = ack[(space + 1)..];
            return true;
        }

        token = routerId = string.Empty;
        return false;
    }
}
