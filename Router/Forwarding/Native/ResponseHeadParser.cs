using System.Text;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// A strict HTTP/1.x response-head parser. A proxy must not read framing more loosely than the
/// client behind it will (response splitting, desynchronised keep-alive connections): anything
/// ambiguous is refused with <see cref="InvalidDataException"/>, which becomes a 502 and closes
/// the connection. Refused: a status line that is not <c>HTTP/1.0|1.1 NNN [reason]</c>, a bare LF
/// or CR, obs-fold, a header name that is not a token or has space before its colon, control or
/// non-ASCII bytes in a value, Content-Length with Transfer-Encoding, differing or malformed
/// Content-Lengths, a transfer coding other than <c>chunked</c>, an unasked-for 101.
/// </summary>
internal static class ResponseHeadParser
{
    /// <summary>
    /// Parses the head at the start of <paramref name="buffer"/>. Returns its length with the
    /// final empty line, or 0 when it has not all arrived yet.
    /// </summary>
    public static int TryParse(ReadOnlySpan<byte> buffer, bool headRequest, ResponseHead head)
    {
        var end = buffer.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            // A bare LF would never complete a CRLF head: refuse it now rather than wait for 64 KiB.
            var lf = buffer.IndexOf((byte)'\n');
            if (lf >= 0 && (lf == 0 || buffer[lf - 1] != '\r'))
            {
                throw Invalid("bare LF in the response head");
            }

            return 0;
        }

        head.Reset();
        var length = end + 4;
        var lineEnd = NextLine(buffer, 0, end + 2);
        ParseStatusLine(buffer[..lineEnd], head);
        var position = lineEnd + 2;
        var contentLengths = 0;
        var transferEncodings = 0;
        while (position < end + 2)
        {
            lineEnd = NextLine(buffer, position, end + 2);
            var line = buffer[position..lineEnd];
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                throw Invalid("obs-fold (a header line starting with whitespace)");
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                throw Invalid("a header line without a token name and colon");
            }

            var valueStart = colon + 1;
            var valueEnd = line.Length;
            while (valueStart < valueEnd && line[valueStart] is (byte)' ' or (byte)'\t')
            {
                valueStart++;
            }

            while (valueEnd > valueStart && line[valueEnd - 1] is (byte)' ' or (byte)'\t')
            {
                valueEnd--;
            }

            var value = line[valueStart..valueEnd];
            if (value.IndexOfAnyExceptInRange((byte)0x20, (byte)0x7e) >= 0 && ContainsForbidden(value))
            {
                throw Invalid("a control or non-ASCII byte in a header value");
            }

            var name = line[..colon];
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                contentLengths++;
                var parsed = ParseContentLength(value);
                if (head.ContentLength >= 0 && head.ContentLength != parsed)
                {
                    throw Invalid("two different Content-Lengths");
                }

                head.ContentLength = parsed;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                transferEncodings++;
                if (transferEncodings > 1 || !Ascii.EqualsIgnoreCase(value, "chunked"u8))
                {
                    throw Invalid("a transfer coding other than one 'chunked'");
                }

                head.Chunked = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                ReadConnection(value, head);
            }

            head.Headers.Add(new HeaderSlot(position, colon, position + valueStart, valueEnd - valueStart));
            position = lineEnd + 2;
        }

        if (head.Chunked && contentLengths > 0)
        {
            throw Invalid("both Content-Length and Transfer-Encoding");
        }

        // RFC 9112 6.3: a 1xx, 204 or 304 ends at its head whatever its headers say. An interim
        // response that announces a body is refused (nothing can say where the final one starts);
        // a 204 that announces one, or a 304 that is chunked, is relayed bodiless and its
        // connection dropped (what follows on it is not a response). A 304's Content-Length
        // describes the representation (RFC 9110 8.6) and is kept.
        var announcesBody = head.Chunked || head.ContentLength > 0;
        if (head.Status is >= 100 and < 200 && head.Status != 101 && (head.Chunked || contentLengths > 0))
        {
            throw Invalid("an interim (1xx) response with Content-Length or Transfer-Encoding");
        }

        head.Unreliable = (head.Status == 204 && announcesBody) || (head.Status == 304 && head.Chunked);

        // RFC 9110 15.3.6: a 205 carries no content; one that sends some anyway is framed as
        // usual, read to its end and not relayed.
        head.DiscardBody = head.Status == 205 && !headRequest;
        head.Framing = head.Status is < 200 or 204 or 304 || headRequest ? BodyFraming.None
            : head.Chunked ? BodyFraming.Chunked
            : head.ContentLength > 0 ? BodyFraming.ContentLength
            : head.ContentLength == 0 ? BodyFraming.None
            : head.DiscardBody ? BodyFraming.None
            : BodyFraming.UntilClose;
        return length;
    }

    /// <summary>A 1xx other than 101: an interim response (100 Continue, 103 Early Hints) to skip.</summary>
    public static bool IsInterim(ResponseHead head) => head.Status is >= 100 and < 200;

    private static int NextLine(ReadOnlySpan<byte> buffer, int start, int limit)
    {
        var rest = buffer[start..limit];
        var cr = rest.IndexOfAny((byte)'\r', (byte)'\n');
        if (cr < 0 || rest[cr] != '\r' || cr + 1 >= rest.Length || rest[cr + 1] != '\n')
        {
            throw Invalid("a bare CR or LF in the response head");
        }

        return start + cr;
    }

    private static void ParseStatusLine(ReadOnlySpan<byte> line, ResponseHead head)
    {
        // HTTP/1.x SP 3DIGIT [SP reason]
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || line[7] is not ((byte)'0' or (byte)'1') || line[8] != ' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11])
            || (line.Length > 12 && line[12] != ' '))
        {
            throw Invalid("a malformed status line");
        }

        head.MinorVersion = line[7] - '0';
        head.Status = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        if (head.Status < 100)
        {
            throw Invalid("a status below 100");
        }

        if (head.Status == 101)
        {
            throw Invalid("101 Switching Protocols to a request that asked for no upgrade");
        }

        if (line.Length > 13)
        {
            var reason = line[13..];
            if (ContainsForbidden(reason))
            {
                throw Invalid("a control byte in the reason phrase");
            }

            head.ReasonStart = 13;
            head.ReasonLength = reason.Length;
        }
    }

    /// <summary>1*DIGIT, or a list of equal ones ("5, 5", which RFC 9110 8.6 lets a recipient accept).</summary>
    private static long ParseContentLength(ReadOnlySpan<byte> value)
    {
        long result = -1;
        foreach (var range in value.Split((byte)','))
        {
            var item = value[range].Trim(" \t"u8);
            if (item.IsEmpty || item.Length > 18 || item.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
            {
                throw Invalid("a malformed Content-Length");
            }

            long parsed = 0;
            foreach (var digit in item)
            {
                parsed = (parsed * 10) + (digit - '0');
            }

            if (result >= 0 && result != parsed)
            {
                throw Invalid("two different Content-Lengths");
            }

            result = parsed;
        }

        return result;
    }

    private static void ReadConnection(ReadOnlySpan<byte> value, ResponseHead head)
    {
        foreach (var range in value.Split((byte)','))
        {
            var token = value[range].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(token, "close"u8))
            {
                head.Close = true;
            }
            else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
            {
                head.KeepAlive = true;
            }
            else if (!token.IsEmpty && !Ascii.EqualsIgnoreCase(token, "upgrade"u8))
            {
                head.ConnectionNamesHeaders = true;
            }
        }
    }

    /// <summary>True when a response's Connection headers name <paramref name="name"/>.</summary>
    public static bool IsNamedInConnection(ReadOnlySpan<byte> headBytes, ResponseHead head, ReadOnlySpan<byte> name)
    {
        foreach (var slot in head.Headers)
        {
            if (!Ascii.EqualsIgnoreCase(headBytes.Slice(slot.NameStart, slot.NameLength), "Connection"u8))
            {
                continue;
            }

            var value = headBytes.Slice(slot.ValueStart, slot.ValueLength);
            foreach (var range in value.Split((byte)','))
            {
                if (Ascii.EqualsIgnoreCase(value[range].Trim(" \t"u8), name))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Anything but HTAB, SP and VCHAR: controls, DEL, and obs-text (which Kestrel would refuse to send on).</summary>
    private static bool ContainsForbidden(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if (b is < 0x20 and not (byte)'\t' || b >= 0x7f)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\''
                or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~'))
            {
                return false;
            }
        }

        return true;
    }

    private static InvalidDataException Invalid(string what) => new($"The backend's response head has {what}.");
}
