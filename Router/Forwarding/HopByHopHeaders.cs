using System.Text;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Headers that never cross the proxy in either direction (Q17): the set YARP's forwarder drops
/// (its RequestUtilities), so that both forwarders send the same headers. Headers a peer names in
/// <c>Connection</c> are dropped too (<see cref="ConnectionTokens"/>).
/// </summary>
internal static class HopByHopHeaders
{
    private static readonly string[] Names =
    [
        "Connection", "Transfer-Encoding", "Keep-Alive", "Upgrade", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authentication-Info", "Proxy-Authorization", "Proxy-Features", "Proxy-Instruction",
        "Security-Scheme", "ALPN", "Close", "TE", "Alt-Svc",
    ];

    // Lengths of the names above: most header names have a length none of them has, and are
    // answered without a comparison.
    private static readonly ulong LengthMask = Names.Aggregate(0UL, (mask, name) => mask | (1UL << name.Length));

    public static bool Contains(string name)
    {
        if (name.Length >= 64 || (LengthMask & (1UL << name.Length)) == 0)
        {
            return false;
        }

        foreach (var candidate in Names)
        {
            if (string.Equals(name, candidate, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    public static bool Contains(ReadOnlySpan<byte> name)
    {
        if (name.Length >= 64 || (LengthMask & (1UL << name.Length)) == 0)
        {
            return false;
        }

        foreach (var candidate in Names)
        {
            if (Ascii.EqualsIgnoreCase(name, candidate))
            {
                return true;
            }
        }

        return false;
    }
}
