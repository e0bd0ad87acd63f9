using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// A backend on a raw socket, for responses Kestrel would never send (broken framing, interim
/// responses, a connection closed in the middle of an exchange). It reads each request (head, then
/// a Content-Length or chunked body), asks <c>reply</c> what to send, and counts connections.
/// </summary>
internal sealed class RawBackend : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<RawRequest, RawReply> _reply;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;
    private int _requests;

    private RawBackend(Func<RawRequest, RawReply> reply)
    {
        _reply = reply;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    private bool _unaskedSent;

    /// <summary>A reply's <see cref="RawReply.Later"/> bytes have been written.</summary>
    public bool UnaskedSent => Volatile.Read(ref _unaskedSent);

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Requests read so far, in arrival order.</summary>
    public ConcurrentQueue<RawRequest> Requests { get; } = new();

    public static RawBackend Start(Func<RawRequest, RawReply> reply) => new(reply);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                var connection = Interlocked.Increment(ref _connections);
                _ = ServeAsync(socket, connection);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Stopped (InvalidOperationException: the listener stopped between two accepts).
        }
    }

    private async Task ServeAsync(Socket socket, int connection)
    {
        using var _ = socket;
        using var stream = new NetworkStream(socket);
        var pending = new List<byte>();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var head = await ReadUntilAsync(stream, pending, buffer, "\r\n\r\n"u8.ToArray());
                if (head is null)
                {
                    return;
                }

                var headText = Encoding.ASCII.GetString(head);
                string body;
                var lengthLine = headText.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                if (headText.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
                {
                    var chunked = await ReadUntilAsync(stream, pending, buffer, "0\r\n\r\n"u8.ToArray());
                    body = chunked is null ? string.Empty : Encoding.ASCII.GetString(chunked);
                }
                else if (lengthLine is not null)
                {
                    var length = int.Parse(lengthLine["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    while (pending.Count < length)
                    {
                        var read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        pending.AddRange(buffer.AsSpan(0, read));
                    }

                    body = Encoding.ASCII.GetString([.. pending.Take(length)]);
                    pending.RemoveRange(0, length);
                }
                else
                {
                    body = string.Empty;
                }

                var request = new RawRequest(headText, body, connection, Interlocked.Increment(ref _requests));
                Requests.Enqueue(request);
                var reply = _reply(request);
                if (reply.Bytes.Length > 0)
                {
                    await stream.WriteAsync(reply.Bytes, _stop.Token);
                }

                if (reply.Later is { } later)
                {
                    // Bytes nobody asked for, once the answer has had time to be relayed.
                    await Task.Delay(reply.LaterDelay, _stop.Token);
                    await stream.WriteAsync(later, _stop.Token);
                    Volatile.Write(ref _unaskedSent, true);
                }

                if (reply.Close)
                {
                    socket.Shutdown(SocketShutdown.Both);
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The router closed the connection, or the test is over.
        }
    }

    /// <summary>Reads until <paramref name="terminator"/>; returns everything up to and with it, or null at the end of the stream.</summary>
    private async Task<byte[]?> ReadUntilAsync(NetworkStream stream, List<byte> pending, byte[] buffer, byte[] terminator)
    {
        while (true)
        {
            var at = IndexOf(pending, terminator);
            if (at >= 0)
            {
                var result = pending.Take(at + terminator.Length).ToArray();
                pending.RemoveRange(0, at + terminator.Length);
                return result;
            }

            var read = await stream.ReadAsync(buffer, _stop.Token);
            if (read == 0)
            {
                return null;
            }

            pending.AddRange(buffer.AsSpan(0, read));
        }
    }

    private static int IndexOf(List<byte> data, byte[] pattern)
    {
        for (var i = 0; i + pattern.Length <= data.Count; i++)
        {
            var match = true;
            for (var j = 0; j < pattern.Length && match; j++)
            {
                match = data[i + j] == pattern[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}

/// <summary>One request as the raw backend read it; <paramref name="Number"/> counts from 1 across connections.</summary>
internal sealed record RawRequest(string Head, string Body, int Connection, int Number);

/// <summary>What the raw backend sends back, and whether it then closes the connection.</summary>
internal sealed record RawReply(byte[] Bytes, bool Close = false)
{
    /// <summary>Sent <see cref="LaterDelay"/> after the reply, unasked (a response on a connection with no request).</summary>
    public byte[]? Later { get; init; }

    public TimeSpan LaterDelay { get; init; }

    public static RawReply Text(string response, bool close = false) => new(Encoding.ASCII.GetBytes(response), close);

    public static RawReply Ok(string body = "ok") => Text($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n{body}");

    /// <summary>Reads the request, answers nothing and closes: how a backend's idle close looks when it crosses a request.</summary>
    public static RawReply Hangup { get; } = new([], Close: true);
}
