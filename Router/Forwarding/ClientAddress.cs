using System.Net;
using System.Net.Sockets;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>The client's address as text (Q10): dotted IPv4 for IPv4 and IPv4-mapped peers, canonical IPv6 otherwise.</summary>
internal static class ClientAddress
{
    public static string? Format(IPAddress? address, bool hipacheStyle)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        // Hipache's '::ffff:' prefix for IPv4, for log parsers that expect it; never its IPv6 corruption.
        return hipacheStyle && address.AddressFamily == AddressFamily.InterNetwork ? "::ffff:" + address : address.ToString();
    }
}
