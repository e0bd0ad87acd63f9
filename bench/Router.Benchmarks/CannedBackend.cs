using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hipache.Aspire.Router.Benchmarks;

/// <summary>
/// A backend that answers every request on a kept-alive connection with the same 100-byte
/// response, from blocking sockets on threads of its own: it allocates nothing per request, so
/// what a benchmark measures across the router is the router's.
/// </summary>
internal sealed class CannedBackend : IDisposable
{
    private static readonly byte[] Response = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + new string('x', 100));

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _connections = [];

    public CannedBackend()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        new Thread(Accept) { IsBackground = true, Name = "canned-backend-accept" }.Start();
    }

    public int Port { get; }

    private void Accept()
    {
        try
        {
            while (true)
            {
                var connection = _listener.Accept();
                connection.NoDelay = true;
                lock (_connections)
                {
                    _connections.Add(connection);
                }

                new Thread(() => Serve(connection)) { IsBackground = true, Name = "canned-backend" }.Start();
            }
        }
        catch (SocketException)
        {
            // Disposed.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Requests without bodies only: one answer per head (blank line) received.</summary>
    private static void Serve(Socket connection)
    {
        var buffer = new byte[16 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                var read = connection.Receive(buffer.AsSpan(filled));
                if (read == 0)
                {
                    return;
                }

                filled += read;
                int end;
                while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) >= 0)
                {
                    connection.Send(Response);
                    var rest = filled - (end + 4);
                    buffer.AsSpan(end + 4, rest).CopyTo(buffer);
                    filled = rest;
                }

                if (filled == buffer.Length)
                {
                    return;
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            connection.Dispose();
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }
    }
}
