namespace Hipache.Aspire.Router.Routing;

internal enum HostKind
{
    Valid,
    Missing,
    Ping,
    Malformed,
}

/// <summary>
/// Turns a Host header into the requested host (hipache-compat 3.1 with Q7's fixes): always
/// lower-cased, port stripped (IPv6 brackets understood), one trailing dot dropped, and anything
/// that is not a hostname or IP literal refused. Writes into a caller's buffer so that the
/// steady state allocates nothing.
/// </summary>
internal static class HostNormalizer
{
    /// <summary>RFC 1123 total length; a bracketed IPv6 literal is shorter.</summary>
    public const int MaxHostLength = 253;

    private const int MaxLabelLength = 63;
    private const string PingHost = "__ping__";

    public static HostKind Normalize(ReadOnlySpan<char> header, Span<char> destination, out int length)
    {
        length = 0;
        header = header.Trim(' ');
        if (header.IsEmpty)
        {
            return HostKind.Missing;
        }

        ReadOnlySpan<char> host;
        if (header[0] == '[')
        {
            var close = header.IndexOf(']');
            if (close < 0 || !IsValidPort(header[(close + 1)..]))
            {
                return HostKind.Malformed;
            }

            host = header[..(close + 1)];
            if (!System.Net.IPAddress.TryParse(host[1..^1], out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return HostKind.Malformed;
            }
        }
        else
        {
            var colon = header.IndexOf(':');
            host = colon < 0 ? header : header[..colon];
            if (colon >= 0 && !IsValidPort(header[colon..]))
            {
                return HostKind.Malformed;
            }
        }

        if (host.SequenceEqual(PingHost))
        {
            return HostKind.Ping;
        }

        if (host.Length > 1 && host[^1] == '.')
        {
            host = host[..^1];
        }

        if (host.IsEmpty || host.Length > MaxHostLength || host.Length > destination.Length)
        {
            return HostKind.Malformed;
        }

        if (host[0] == '[')
        {
            host.ToLowerInvariant(destination);
            length = host.Length;
            return HostKind.Valid;
        }

        var labelLength = 0;
        for (var i = 0; i < host.Length; i++)
        {
            var c = host[i];
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return HostKind.Malformed;
                }

                labelLength = 0;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            {
                // '_' is not RFC 1123 but appears in real internal names; Hipache routed it.
                if (++labelLength > MaxLabelLength)
                {
                    return HostKind.Malformed;
                }
            }
            else
            {
                return HostKind.Malformed;
            }

            destination[i] = char.ToLowerInvariant(c);
        }

        if (labelLength == 0)
        {
            return HostKind.Malformed;
        }

        length = host.Length;
        return HostKind.Valid;
    }

    /// <summary>Empty, or ':' followed by 1-5 digits.</summary>
    private static bool IsValidPort(ReadOnlySpan<char> portPart)
    {
        if (portPart.IsEmpty)
        {
            return true;
        }

        if (portPart[0] != ':' || portPart.Length is < 2 or > 6)
        {
            return false;
        }

        foreach (var c in portPart[1..])
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
