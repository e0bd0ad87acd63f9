using System.Buffers.Text;

namespace Hipache.Aspire.Router.Routing;

/// <summary>The kind of one RESP2 reply read by <see cref="RespReplyReader"/>.</summary>
internal enum RespReplyKind
{
    /// <summary><c>+OK</c>: one part, the text.</summary>
    Simple,

    /// <summary><c>-ERR ...</c>: one part, the text.</summary>
    Error,

    /// <summary><c>:1</c>: one part, the digits.</summary>
    Integer,

    /// <summary><c>*N</c> of bulk strings and integers: N parts (a null bulk string is an empty part).</summary>
    Array,
}

/// <summary>A RESP2 protocol violation: the connection cannot be read on and is dropped.</summary>
internal sealed class RespProtocolException(string message) : Exception(message);

/// <summary>
/// Reads the replies a subscription connection gets (RESP2): the replies to AUTH and CLIENT
/// SETNAME, subscription confirmations and <c>pmessage</c> pushes. Nothing else is ever asked on
/// that connection, so arrays hold at most <see cref="MaxParts"/> flat elements; anything else is
/// a protocol error, never a guess.
/// </summary>
internal static class RespReplyReader
{
    /// <summary>The most elements a reply on a subscription connection has (<c>pmessage</c>: 4).</summary>
    public const int MaxParts = 4;

    // A status line or length prefix longer than this is not RESP from a Redis.
    private const int MaxLine = 4096;

    /// <summary>
    /// Reads one reply from the start of <paramref name="input"/>: the number of bytes it took, or
    /// 0 when the reply is not complete yet. <paramref name="parts"/> receives where each part's
    /// bytes are in <paramref name="input"/>.
    /// </summary>
    public static int TryRead(ReadOnlySpan<byte> input, Span<Range> parts, out RespReplyKind kind, out int count)
    {
        kind = RespReplyKind.Simple;
        count = 0;
        var lineEnd = LineEnd(input, 0);
        if (lineEnd < 0)
        {
            return 0;
        }

        switch (input[0])
        {
            case (byte)'+':
            case (byte)'-':
            case (byte)':':
                kind = input[0] switch { (byte)'+' => RespReplyKind.Simple, (byte)'-' => RespReplyKind.Error, _ => RespReplyKind.Integer };
                parts[0] = 1..lineEnd;
                count = 1;
                return lineEnd + 2;
            case (byte)'*':
                kind = RespReplyKind.Array;
                var elements = Length(input[1..lineEnd]);
                if (elements > MaxParts || elements > parts.Length)
                {
                    throw new RespProtocolException($"An array of {elements} elements on a subscription connection.");
                }

                var position = lineEnd + 2;
                for (var i = 0; i < elements; i++)
                {
                    var taken = ReadElement(input, position, out parts[i]);
                    if (taken == 0)
                    {
                        return 0;
                    }

                    position += taken;
                }

                count = Math.Max(elements, 0);
                return position;
            default:
                throw new RespProtocolException($"A reply starting with byte 0x{input[0]:x2}.");
        }
    }

    private static int ReadElement(ReadOnlySpan<byte> input, int start, out Range part)
    {
        part = start..start;
        var lineEnd = LineEnd(input, start);
        if (lineEnd < 0)
        {
            return 0;
        }

        switch (input[start])
        {
            case (byte)':':
                part = (start + 1)..lineEnd;
                return lineEnd + 2 - start;
            case (byte)'$':
                var length = Length(input[(start + 1)..lineEnd]);
                var dataStart = lineEnd + 2;
                if (length < 0)
                {
                    part = dataStart..dataStart;
                    return dataStart - start;
                }

                if (input.Length < dataStart + length + 2)
                {
                    return 0;
                }

                if (input[dataStart + length] != '\r' || input[dataStart + length + 1] != '\n')
                {
                    throw new RespProtocolException("A bulk string not followed by CRLF.");
                }

                part = dataStart..(dataStart + length);
                return dataStart + length + 2 - start;
            default:
                throw new RespProtocolException($"An array element starting with byte 0x{input[start]:x2}.");
        }
    }

    /// <summary>Index of the CR of the line starting at <paramref name="start"/>, or -1 when the line is not complete.</summary>
    private static int LineEnd(ReadOnlySpan<byte> input, int start)
    {
        if (start >= input.Length)
        {
            return -1;
        }

        var found = input[start..].IndexOf("\r\n"u8);
        if (found < 0)
        {
            return input.Length - start > MaxLine ? throw new RespProtocolException("A line longer than 4 KB.") : -1;
        }

        return start + found;
    }

    private static int Length(ReadOnlySpan<byte> digits)
    {
        if (!Utf8Parser.TryParse(digits, out int value, out var consumed) || consumed != digits.Length || value < -1)
        {
            throw new RespProtocolException("A length that is not a number.");
        }

        return value;
    }
}
