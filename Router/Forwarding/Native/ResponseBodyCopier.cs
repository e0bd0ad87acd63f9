using System.Buffers;
using System.IO.Pipelines;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>The client's side failed while a response was relayed (it went away, or stopped reading).</summary>
internal sealed class ClientWriteException(Exception? inner) : IOException("The client connection failed while the response was relayed.", inner);

/// <summary>
/// Relays a response body from a backend connection's buffer into the client's
/// <see cref="PipeWriter"/>, one copy from a pooled buffer, nothing allocated per chunk. Flushes
/// as HAProxy does: the first bytes at once (the client sees the response start), then only when
/// the backend has nothing more ready (the end of a read burst) or 64 KiB are waiting, never per
/// small write. Chunked bodies are decoded strictly (hex size, CRLF after each chunk, trailers
/// read and dropped) and re-chunked by Kestrel.
/// </summary>
internal sealed class ResponseBodyCopier(BackendConnection connection)
{
    /// <summary>Kestrel's default response buffer: beyond it a write would wait anyway.</summary>
    private const int FlushThreshold = 64 * 1024;

    /// <summary>A chunk-size line or a trailer line longer than this is refused.</summary>
    private const int MaxLine = 8 * 1024;

    private long _unflushed;
    private bool _flushedOnce;

    /// <summary>Body bytes written to the client by the last <see cref="CopyAsync"/>, so far.</summary>
    public long Copied { get; private set; }

    public async ValueTask CopyAsync(ResponseHead head, PipeWriter writer)
    {
        _unflushed = 0;
        _flushedOnce = false;
        Copied = 0;
        switch (head.Framing)
        {
            case BodyFraming.ContentLength:
                await CopyExactlyAsync(head.ContentLength, writer, "Content-Length").ConfigureAwait(false);
                break;
            case BodyFraming.Chunked:
                await CopyChunkedAsync(writer).ConfigureAwait(false);
                break;
            case BodyFraming.UntilClose:
                await CopyUntilCloseAsync(writer).ConfigureAwait(false);
                break;
        }

        if (_unflushed > 0)
        {
            await FlushAsync(writer).ConfigureAwait(false);
        }
    }

    /// <summary>Before a receive that would wait, what is written goes to the client: the end of a burst.</summary>
    private async ValueTask<int> ReceiveAsync(PipeWriter writer)
    {
        if (_unflushed > 0 && connection.Available == 0)
        {
            await FlushAsync(writer).ConfigureAwait(false);
        }

        try
        {
            return connection.Received(await connection.ReceiveAsync().ConfigureAwait(false));
        }
        catch (OperationCanceledException ex) when (connection.TimedOut)
        {
            throw connection.AsTimeout(ex);
        }
    }

    private async ValueTask CopyExactlyAsync(long length, PipeWriter writer, string framing)
    {
        var remaining = length;
        while (remaining > 0)
        {
            if (connection.BufferedCount == 0 && await ReceiveAsync(writer).ConfigureAwait(false) == 0)
            {
                throw new IOException($"The backend closed the connection {remaining} bytes before the end of the body ({framing}).");
            }

            var take = (int)Math.Min(connection.BufferedCount, remaining);
            writer.Write(connection.Buffered[..take]);
            connection.Consume(take);
            remaining -= take;
            _unflushed += take;
            Copied += take;
            if (!_flushedOnce || _unflushed >= FlushThreshold)
            {
                await FlushAsync(writer).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask CopyUntilCloseAsync(PipeWriter writer)
    {
        while (true)
        {
            if (connection.BufferedCount == 0 && await ReceiveAsync(writer).ConfigureAwait(false) == 0)
            {
                return;
            }

            var take = connection.BufferedCount;
            writer.Write(connection.Buffered);
            connection.Consume(take);
            _unflushed += take;
            Copied += take;
            if (!_flushedOnce || _unflushed >= FlushThreshold)
            {
                await FlushAsync(writer).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask CopyChunkedAsync(PipeWriter writer)
    {
        while (true)
        {
            var lineLength = await ReadLineAsync(writer).ConfigureAwait(false);
            var size = ParseChunkSize(connection.Buffered[..lineLength]);
            connection.Consume(lineLength + 2);
            if (size == 0)
            {
                // Trailer fields: read to the empty line and dropped (Kestrel sends no HTTP/1.1 trailers).
                while ((lineLength = await ReadLineAsync(writer).ConfigureAwait(false)) > 0)
                {
                    var line = connection.Buffered[..lineLength];
                    if (line[0] is (byte)' ' or (byte)'\t' || line.IndexOf((byte)':') <= 0)
                    {
                        throw new InvalidDataException("The backend's chunked body has a malformed trailer line.");
                    }

                    connection.Consume(lineLength + 2);
                }

                connection.Consume(2);
                return;
            }

            await CopyExactlyAsync(size, writer, "chunked").ConfigureAwait(false);
            while (connection.BufferedCount < 2)
            {
                if (await ReceiveAsync(writer).ConfigureAwait(false) == 0)
                {
                    throw new IOException("The backend closed the connection inside a chunked body.");
                }
            }

            if (connection.Buffered[0] != '\r' || connection.Buffered[1] != '\n')
            {
                throw new InvalidDataException("The backend's chunk is longer than its size says (no CRLF after it).");
            }

            connection.Consume(2);
        }
    }

    /// <summary>Waits for one CRLF-terminated line at the front of the buffer; returns its length without the CRLF.</summary>
    private async ValueTask<int> ReadLineAsync(PipeWriter writer)
    {
        var searched = 0;
        while (true)
        {
            var buffered = connection.Buffered;
            var lf = buffered[searched..].IndexOfAny((byte)'\r', (byte)'\n');
            if (lf >= 0)
            {
                lf += searched;
                if (buffered[lf] == '\n' || (lf + 1 < buffered.Length && buffered[lf + 1] != '\n'))
                {
                    throw new InvalidDataException("The backend's chunked body has a bare CR or LF.");
                }

                if (lf + 1 < buffered.Length)
                {
                    return lf;
                }

                // The CR arrived, its LF not yet.
                searched = lf;
            }
            else
            {
                searched = buffered.Length;
            }

            if (buffered.Length > MaxLine)
            {
                throw new InvalidDataException("The backend's chunked body has a line longer than 8 KiB.");
            }

            if (await ReceiveAsync(writer).ConfigureAwait(false) == 0)
            {
                throw new IOException("The backend closed the connection inside a chunked body.");
            }
        }
    }

    /// <summary>1*HEXDIG, optionally followed by chunk extensions (ignored); nothing else.</summary>
    private static long ParseChunkSize(ReadOnlySpan<byte> line)
    {
        var digits = 0;
        long size = 0;
        while (digits < line.Length && char.IsAsciiHexDigit((char)line[digits]))
        {
            if (digits == 15)
            {
                throw new InvalidDataException("The backend's chunk size is too large.");
            }

            size = (size << 4) | (long)HexValue(line[digits]);
            digits++;
        }

        if (digits == 0)
        {
            throw new InvalidDataException("The backend's chunked body has a chunk size that is not hexadecimal.");
        }

        var rest = line[digits..].TrimStart(" \t"u8);
        if (!rest.IsEmpty && rest[0] != ';')
        {
            throw new InvalidDataException("The backend's chunked body has junk after a chunk size.");
        }

        return size;
    }

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;

    private async ValueTask FlushAsync(PipeWriter writer)
    {
        FlushResult result;
        try
        {
            result = await writer.FlushAsync(connection.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ClientWriteException)
        {
            throw new ClientWriteException(ex);
        }

        if (result.IsCanceled || result.IsCompleted)
        {
            throw new ClientWriteException(null);
        }

        _unflushed = 0;
        _flushedOnce = true;
        connection.Touch();
    }
}
