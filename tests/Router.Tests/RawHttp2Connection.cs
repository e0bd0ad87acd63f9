using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hipache.Aspire.Router.Tests;

/// <summary>HTTP/2 frame types and error codes the hostile-input tests use (RFC 9113 6, 7).</summary>
internal static class H2
{
    public const byte Data = 0x0;
    public const byte Headers = 0x1;
    public const byte RstStream = 0x3;
    public const byte Settings = 0x4;
    public const byte GoAway = 0x7;
    public const byte Continuation = 0x9;

    public const byte EndStream = 0x1;
    public const byte EndHeaders = 0x4;

    public const uint ProtocolError = 0x1;
    public const uint InternalError = 0x2;
    public const uint RefusedStream = 0x7;
    public const uint Cancel = 0x8;
    public const uint EnhanceYourCalm = 0xb;

    public const ushort MaxConcurrentStreams = 0x3;
}

/// <summary>One frame as read: type, flags, stream, payload.</summary>
internal sealed record H2Frame(byte Type, byte Flags, int StreamId, byte[] Payload)
{
    /// <summary>The error code of a RST_STREAM or GOAWAY frame.</summary>
    public uint ErrorCode => Type switch
    {
        H2.RstStream => BinaryPrimitives.ReadUInt32BigEndian(Payload),
        H2.GoAway => BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4)),
        _ => throw new InvalidOperationException($"frame type {Type} has no error code"),
    };

    /// <summary>
    /// <c>:status</c> of a response HEADERS frame, read from the first field of the block, which is
    /// where a server puts it (RFC 9113 8.3): indexed (static table 8-14) or a literal with the
    /// static name <c>:status</c> (index 8) and a plain (not Huffman) value, as Kestrel writes it.
    /// </summary>
    public int Status
    {
        get
        {
            var first = Payload[0];
            if ((first & 0x80) != 0)
            {
                return (first & 0x7f) switch
                {
                    8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400, 13 => 404, 14 => 500,
                    var index => throw new InvalidOperationException($"indexed field {index} is not :status"),
                };
            }

            // Literal with incremental indexing (01xxxxxx), without indexing (0000xxxx) or never indexed (0001xxxx), name index 8.
            var nameIndex = (first & 0x40) != 0 ? first & 0x3f : first & 0x0f;
            if (nameIndex != 8 || (Payload[1] & 0x80) != 0)
            {
                throw new InvalidOperationException($"first header field 0x{first:x2} 0x{Payload[1]:x2} is not a plain :status literal");
            }

            return int.Parse(Encoding.ASCII.GetString(Payload, 2, Payload[1] & 0x7f), System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}

/// <summary>
/// A client that writes HTTP/2 frames itself over plain TCP (prior knowledge), for requests no
/// well-behaved client library sends: streams reset as soon as opened, header blocks over the
/// limit, more streams than the server allows. Header blocks are HPACK literals without
/// indexing and without Huffman coding (RFC 7541 6.2.2), the simplest valid encoding.
/// </summary>
internal sealed class RawHttp2Connection : IAsyncDisposable
{
    private const int MaxFrameSize = 16_384;
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _header = new byte[9];

    private RawHttp2Connection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>Connects, sends the preface and an empty SETTINGS frame, and acknowledges nothing (not needed by Kestrel to serve).</summary>
    public static async Task<RawHttp2Connection> OpenAsync(int port, CancellationToken cancellationToken)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var connection = new RawHttp2Connection(client);
        var start = new MemoryStream();
        start.Write(Preface);
        WriteFrame(start, H2.Settings, 0, 0, []);
        await connection.SendAsync(start.ToArray(), cancellationToken);
        return connection;
    }

    public async Task SendAsync(byte[] bytes, CancellationToken cancellationToken) => await _stream.WriteAsync(bytes, cancellationToken);

    /// <summary>A GET request's HEADERS (and CONTINUATION frames when the block is larger than a frame).</summary>
    public static void WriteRequest(Stream into, int streamId, string authority, bool endStream = true, IEnumerable<(string Name, string Value)>? extra = null)
    {
        var block = new MemoryStream();
        WriteLiteral(block, ":method", "GET");
        WriteLiteral(block, ":scheme", "http");
        WriteLiteral(block, ":path", "/");
        WriteLiteral(block, ":authority", authority);
        foreach (var (name, value) in extra ?? [])
        {
            WriteLiteral(block, name, value);
        }

        var bytes = block.ToArray();
        var offset = 0;
        var first = true;
        do
        {
            var length = Math.Min(MaxFrameSize, bytes.Length - offset);
            var last = offset + length == bytes.Length;
            var flags = (byte)((last ? H2.EndHeaders : 0) | (first && endStream ? H2.EndStream : 0));
            WriteFrame(into, first ? H2.Headers : H2.Continuation, flags, streamId, bytes.AsSpan(offset, length));
            offset += length;
            first = false;
        }
        while (offset < bytes.Length);
    }

    public static void WriteRstStream(Stream into, int streamId, uint errorCode)
    {
        Span<byte> payload = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, errorCode);
        WriteFrame(into, H2.RstStream, 0, streamId, payload);
    }

    /// <summary>The next frame, or null when the server closed the connection (or reset it).</summary>
    public async Task<H2Frame?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _stream.ReadExactlyAsync(_header, cancellationToken);
            var length = (_header[0] << 16) | (_header[1] << 8) | _header[2];
            var payload = new byte[length];
            await _stream.ReadExactlyAsync(payload, cancellationToken);
            return new H2Frame(_header[3], _header[4], (int)(BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(5)) & 0x7fffffff), payload);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            return null;
        }
    }

    /// <summary>Frames until one matches, the connection ends (null) or the time is up (TimeoutException).</summary>
    public async Task<H2Frame?> ReadUntilAsync(Func<H2Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            while (await ReadFrameAsync(deadline.Token) is { } frame)
            {
                if (match(frame))
                {
                    return frame;
                }
            }

            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no matching HTTP/2 frame within {timeout}");
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private static void WriteFrame(Stream into, byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], (uint)streamId);
        into.Write(header);
        into.Write(payload);
    }

    /// <summary>Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman coding.</summary>
    private static void WriteLiteral(Stream into, string name, string value)
    {
        into.WriteByte(0x00);
        WriteString(into, name);
        WriteString(into, value);
    }

    private static void WriteString(Stream into, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        WriteInteger(into, bytes.Length, prefixBits: 7, firstByte: 0x00);
        into.Write(bytes);
    }

    /// <summary>RFC 7541 5.1: an integer on an N-bit prefix, continued in 7-bit groups.</summary>
    private static void WriteInteger(Stream into, int value, int prefixBits, byte firstByte)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            into.WriteByte((byte)(firstByte | value));
            return;
        }

        into.WriteByte((byte)(firstByte | max));
        value -= max;
        while (value >= 0x80)
        {
            into.WriteByte((byte)((value & 0x7f) | 0x80));
            value >>= 7;
        }

        into.WriteByte((byte)value);
    }
}
