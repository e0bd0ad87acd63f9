using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using StackExchange.Redis;

/// <summary>
/// The "raw" reference: HTTP/1.1 proxying on Kestrel's transport without Kestrel's HTTP layer, for
/// the bench's requests only (bodiless, Content-Length answers). Not a product path: it validates
/// nothing and adds no forwarding headers; it measures what the transport and one pooled backend
/// connection cost per request.
/// </summary>
internal sealed class RawForwarder(IDatabase db)
{
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();
    private readonly ConcurrentDictionary<string, EndPoint[]> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<EndPoint, ConcurrentStack<RawBackend>> _pools = new();

    public async Task HandleAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var head = new byte[16 * 1024];
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            var end = FindHeadEnd(buffer);
            if (end < 0)
            {
                if (result.IsCompleted || buffer.Length > head.Length)
                {
                    return;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            var length = (int)end + HeadEnd.Length;
            buffer.Slice(0, length).CopyTo(head);
            input.AdvanceTo(buffer.GetPosition(length));

            var backends = await RouteAsync(HostOf(head.AsSpan(0, length)));
            if (backends.Length == 0)
            {
                output.Write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"u8);
                await output.FlushAsync();
                if (AsksToClose(head.AsSpan(0, length)))
                {
                    return;
                }

                continue;
            }

            var endPoint = backends[Random.Shared.Next(backends.Length)];
            var pool = _pools.GetOrAdd(endPoint, static _ => new ConcurrentStack<RawBackend>());
            if (!pool.TryPop(out var backend))
            {
                backend = await RawBackend.ConnectAsync(endPoint);
            }

            await backend.Socket.SendAsync(head.AsMemory(0, length));
            if (!await backend.RelayResponseAsync(output))
            {
                backend.Socket.Dispose();
                return;
            }

            pool.Push(backend);
            if (AsksToClose(head.AsSpan(0, length)))
            {
                // The harness's readiness and propagation probes read until the connection closes.
                return;
            }
        }
    }

    internal static bool AsksToClose(ReadOnlySpan<byte> head)
    {
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            if (line.Length > 11 && System.Text.Ascii.EqualsIgnoreCase(line[..11], "connection:"u8))
            {
                return line[11..].Trim((byte)' ').SequenceEqual("close"u8);
            }
        }

        return false;
    }

    private async ValueTask<EndPoint[]> RouteAsync(string host)
    {
        if (_routes.TryGetValue(host, out var backends))
        {
            return backends;
        }

        var list = await db.ListRangeAsync("frontend:" + host);
        backends = [.. list.Skip(1).Select(v => (EndPoint)IPEndPoint.Parse(new Uri(v.ToString()).Authority))];
        _routes[host] = backends;
        return backends;
    }

    private static long FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> before, HeadEnd, advancePastDelimiter: false) ? before.Length : -1;
    }

    internal static string HostOf(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\r\nHost:"u8);
        if (at < 0)
        {
            return string.Empty;
        }

        var value = head[(at + 7)..];
        value = value[..value.IndexOf("\r\n"u8)].Trim((byte)' ');
        var colon = value.IndexOf((byte)':');
        return Encoding.ASCII.GetString(colon >= 0 ? value[..colon] : value);
    }

    internal static long ContentLengthOf(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\r\nContent-Length:"u8);
        if (at < 0)
        {
            at = head.IndexOf("\r\ncontent-length:"u8);
        }

        if (at < 0)
        {
            return -1;
        }

        var value = head[(at + 17)..];
        value = value[..value.IndexOf("\r\n"u8)].Trim((byte)' ');
        return Utf8Parser.TryParse(value, out long length, out _) ? length : -1;
    }

    private sealed class RawBackend(Socket socket)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];

        public Socket Socket { get; } = socket;

        public static async ValueTask<RawBackend> ConnectAsync(EndPoint endPoint)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(endPoint);
            return new RawBackend(socket);
        }

        /// <summary>Relays one Content-Length response; false when the connection cannot be reused.</summary>
        public async ValueTask<bool> RelayResponseAsync(PipeWriter output)
        {
            var filled = 0;
            int headLength;
            while ((headLength = _buffer.AsSpan(0, filled).IndexOf(HeadEnd)) < 0)
            {
                var read = await Socket.ReceiveAsync(_buffer.AsMemory(filled), SocketFlags.None);
                if (read == 0)
                {
                    return false;
                }

                filled += read;
            }

            headLength += HeadEnd.Length;
            var contentLength = ContentLengthOf(_buffer.AsSpan(0, headLength));
            if (contentLength < 0)
            {
                return false;
            }

            var remaining = headLength + contentLength;
            while (true)
            {
                var chunk = (int)Math.Min(filled, remaining);
                output.Write(_buffer.AsSpan(0, chunk));
                remaining -= chunk;
                if (remaining == 0)
                {
                    await output.FlushAsync();
                    return filled == chunk;
                }

                if (output.UnflushedBytes >= 64 * 1024)
                {
                    await output.FlushAsync();
                }

                filled = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None);
                if (filled == 0)
                {
                    return false;
                }
            }
        }
    }
}
