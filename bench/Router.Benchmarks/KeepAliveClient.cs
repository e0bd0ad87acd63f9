using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hipache.Aspire.Router.Benchmarks;

/// <summary>
/// One kept-alive HTTP/1.1 client connection on a blocking socket: sends a fixed request and
/// reads exactly one response (head, then Content-Length bytes) into a reused buffer, allocating
/// nothing per request.
/// </summary>
internal sealed class KeepAliveClient : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    private readonly byte[] _request;
    private readonly byte[] _buffer = new byte[64 * 1024];

    public KeepAliveClient(int port, string host)
    {
        _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        _request = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n");
    }

    /// <summary>Sends the request and returns the response's status code once its body has arrived.</summary>
    public int Send()
    {
        _socket.Send(_request);
        var filled = 0;
        var headEnd = -1;
        var total = int.MaxValue;
        while (filled < total)
        {
            var read = _socket.Receive(_buffer.AsSpan(filled));
            if (read == 0)
            {
                throw new InvalidOperationException("The router closed the connection.");
            }

            filled += read;
            if (headEnd < 0 && (headEnd = _buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) >= 0)
            {
                total = headEnd + 4 + ContentLength(_buffer.AsSpan(0, headEnd + 2));
            }
        }

        if (filled != total)
        {
            throw new InvalidOperationException("The router sent more than one response.");
        }

        return Utf8Parser.TryParse(_buffer.AsSpan(9, 3), out int status, out _) ? status : throw new InvalidOperationException("No status line.");
    }

    private static int ContentLength(ReadOnlySpan<byte> head)
    {
        var at = head.IndexOf("\r\nContent-Length:"u8);
        if (at < 0)
        {
            throw new InvalidOperationException("The response has no Content-Length.");
        }

        var value = head[(at + 17)..];
        value = value[..value.IndexOf("\r\n"u8)].Trim((byte)' ');
        return Utf8Parser.TryParse(value, out int length, out _) ? length : throw new InvalidOperationException("Bad Content-Length.");
    }

    public void Dispose() => _socket.Dispose();
}
