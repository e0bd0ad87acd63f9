using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using StackExchange.Redis;

/// <summary>
/// The "epoll" reference: the raw relay's work (find the head's end and its Host, send the head
/// as it came to a pooled backend connection, relay a Content-Length answer) on one thread that
/// waits for readiness before every read, as haproxy does: epoll through P/Invoke, level-triggered,
/// no .NET socket engine and no Kestrel. It asks whether the 10 % between the raw floor and haproxy
/// is .NET's socket engine (a receive tried before every wait: two EAGAIN reads per request) or the
/// runtime itself. Bench requests only (bodiless GETs, Content-Length answers); it validates nothing.
/// </summary>
internal sealed unsafe class EpollRelay(IDatabase db, int port)
{
    private static readonly byte[] NotFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"u8.ToArray();

    private readonly object?[] _byFd = new object?[1 << 16];
    private readonly Dictionary<string, EndPoint[]> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<EndPoint, Stack<Backend>> _pools = [];
    private int _epoll;

    public void Run()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(4096);
        listener.Blocking = false;
        var listenFd = (int)listener.Handle;
        _epoll = Libc.EpollCreate1(Libc.SockCloexec);
        Control(Libc.CtlAdd, listenFd, Libc.EpollIn);
        var events = stackalloc Libc.EpollEvent[256];
        while (true)
        {
            var count = Libc.EpollWait(_epoll, events, 256, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.ErrInterrupted)
                {
                    continue;
                }

                throw new InvalidOperationException($"epoll_wait failed: errno {Marshal.GetLastPInvokeError()}");
            }

            for (var i = 0; i < count; i++)
            {
                var fd = (int)events[i].Data;
                var ready = events[i].Events;
                if (fd == listenFd)
                {
                    AcceptAll(listenFd);
                }
                else if (_byFd[fd] is Client client)
                {
                    if ((ready & Libc.EpollOut) != 0)
                    {
                        FlushPending(client);
                    }

                    if ((ready & ~Libc.EpollOut) != 0 && _byFd[fd] == client)
                    {
                        OnClientReadable(client);
                    }
                }
                else if (_byFd[fd] is Backend backend)
                {
                    OnBackendReadable(backend);
                }
            }
        }
    }

    private void AcceptAll(int listenFd)
    {
        while (true)
        {
            var fd = Libc.Accept4(listenFd, IntPtr.Zero, IntPtr.Zero, Libc.SockNonBlock | Libc.SockCloexec);
            if (fd < 0)
            {
                return;
            }

            Libc.NoDelay(fd);
            _byFd[fd] = new Client(fd);
            Control(Libc.CtlAdd, fd, Libc.EpollIn);
        }
    }

    private void OnClientReadable(Client client)
    {
        if (client.Active is not null)
        {
            // No pipelining in the bench: a read now can only be the client closing.
            var peek = stackalloc byte[1];
            var peeked = Libc.Recv(client.Fd, peek, 1, Libc.MsgPeek);
            if (peeked == 0 || (peeked < 0 && Marshal.GetLastPInvokeError() != Libc.ErrAgain))
            {
                CloseClient(client);
            }

            return;
        }

        nint read;
        fixed (byte* buffer = client.In)
        {
            read = Libc.Recv(client.Fd, buffer + client.InLength, client.In.Length - client.InLength, 0);
        }

        if (read == 0 || (read < 0 && Marshal.GetLastPInvokeError() != Libc.ErrAgain))
        {
            CloseClient(client);
            return;
        }

        if (read > 0)
        {
            client.InLength += (int)read;
            TryStartRequest(client);
        }
    }

    private void TryStartRequest(Client client)
    {
        var received = client.In.AsSpan(0, client.InLength);
        var end = received.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            if (client.InLength == client.In.Length)
            {
                CloseClient(client);
            }

            return;
        }

        var headLength = end + 4;
        var head = received[..headLength];
        client.CloseAfter = RawForwarder.AsksToClose(head);
        var backends = Route(RawForwarder.HostOf(head));
        if (backends.Length == 0)
        {
            Consume(client, headLength);
            SendToClient(client, NotFound, 0, NotFound.Length);
            Finish(client);
            return;
        }

        var backend = Take(backends[Random.Shared.Next(backends.Length)]);
        backend.Owner = client;
        client.Active = backend;
        fixed (byte* buffer = client.In)
        {
            var sent = 0;
            while (sent < headLength)
            {
                var n = Libc.Send(backend.Fd, buffer + sent, headLength - sent, Libc.MsgNoSignal);
                if (n < 0)
                {
                    Fail(client, backend);
                    return;
                }

                sent += (int)n;
            }
        }

        Consume(client, headLength);
    }

    private void OnBackendReadable(Backend backend)
    {
        if (backend.Owner is not { } client)
        {
            // Idle in the pool and readable: the backend closed it (or sent something unasked).
            Drop(backend);
            return;
        }

        nint read;
        fixed (byte* buffer = backend.Buffer)
        {
            read = Libc.Recv(backend.Fd, buffer + backend.Filled, backend.Buffer.Length - backend.Filled, 0);
        }

        if (read < 0 && Marshal.GetLastPInvokeError() == Libc.ErrAgain)
        {
            return;
        }

        if (read <= 0)
        {
            Fail(client, backend);
            return;
        }

        backend.Filled += (int)read;
        if (backend.Remaining < 0)
        {
            var end = backend.Buffer.AsSpan(0, backend.Filled).IndexOf("\r\n\r\n"u8);
            if (end < 0)
            {
                return;
            }

            var contentLength = RawForwarder.ContentLengthOf(backend.Buffer.AsSpan(0, end + 4));
            if (contentLength < 0)
            {
                Fail(client, backend);
                return;
            }

            backend.Remaining = end + 4 + contentLength;
            // nginx closes a kept-alive connection after keepalive_requests answers, and says so.
            backend.CloseAfter = RawForwarder.AsksToClose(backend.Buffer.AsSpan(0, end + 4));
        }

        var chunk = (int)Math.Min(backend.Filled, backend.Remaining);
        var extra = backend.Filled - chunk;
        backend.Remaining -= chunk;
        backend.Filled = 0;
        SendToClient(client, backend.Buffer, 0, chunk);
        if (backend.Remaining > 0)
        {
            return;
        }

        client.Active = null;
        backend.Owner = null;
        backend.Remaining = -1;
        if (extra > 0 || backend.CloseAfter)
        {
            Drop(backend);
        }
        else
        {
            _pools[backend.EndPoint].Push(backend);
        }

        Finish(client);
    }

    /// <summary>A request is answered: close if asked, once everything is sent; else take the next one.</summary>
    private void Finish(Client client)
    {
        if (client.PendingLength > 0)
        {
            return;
        }

        if (client.CloseAfter)
        {
            CloseClient(client);
        }
        else if (client.InLength > 0)
        {
            TryStartRequest(client);
        }
    }

    private void SendToClient(Client client, byte[] bytes, int offset, int count)
    {
        var sent = 0;
        if (client.PendingLength == 0)
        {
            fixed (byte* buffer = bytes)
            {
                var n = Libc.Send(client.Fd, buffer + offset, count, Libc.MsgNoSignal);
                if (n < 0 && Marshal.GetLastPInvokeError() != Libc.ErrAgain)
                {
                    CloseClient(client);
                    return;
                }

                sent = (int)Math.Max(0, n);
            }
        }

        if (sent == count)
        {
            return;
        }

        // The client's window is full (1 MiB answers): keep the rest, wait for it to drain, and
        // stop reading the backend meanwhile.
        if (client.Pending.Length < client.PendingLength + count - sent)
        {
            Array.Resize(ref client.Pending, client.PendingLength + count - sent);
        }

        Buffer.BlockCopy(bytes, offset + sent, client.Pending, client.PendingLength, count - sent);
        client.PendingLength += count - sent;
        Control(Libc.CtlMod, client.Fd, Libc.EpollIn | Libc.EpollOut);
        if (client.Active is { } backend)
        {
            Control(Libc.CtlMod, backend.Fd, 0);
        }
    }

    private void FlushPending(Client client)
    {
        fixed (byte* buffer = client.Pending)
        {
            var n = Libc.Send(client.Fd, buffer + client.PendingOffset, client.PendingLength - client.PendingOffset, Libc.MsgNoSignal);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() != Libc.ErrAgain)
                {
                    CloseClient(client);
                }

                return;
            }

            client.PendingOffset += (int)n;
        }

        if (client.PendingOffset < client.PendingLength)
        {
            return;
        }

        client.PendingOffset = client.PendingLength = 0;
        Control(Libc.CtlMod, client.Fd, Libc.EpollIn);
        if (client.Active is { } backend)
        {
            Control(Libc.CtlMod, backend.Fd, Libc.EpollIn);
        }
        else
        {
            Finish(client);
        }
    }

    private EndPoint[] Route(string host)
    {
        if (!_routes.TryGetValue(host, out var backends))
        {
            // Once per host, blocking the loop: the bench's hosts are read during its warm-up.
            var list = db.ListRange("frontend:" + host);
            backends = [.. list.Skip(1).Select(v => (EndPoint)IPEndPoint.Parse(new Uri(v.ToString()).Authority))];
            _routes[host] = backends;
        }

        return backends;
    }

    private Backend Take(EndPoint endPoint)
    {
        if (!_pools.TryGetValue(endPoint, out var pool))
        {
            _pools[endPoint] = pool = new Stack<Backend>();
        }

        while (pool.TryPop(out var pooled))
        {
            if (!pooled.Closed)
            {
                return pooled;
            }
        }

        // Blocking connect: a floor measured after its warm-up connects rarely.
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(endPoint);
        socket.Blocking = false;
        var backend = new Backend(socket, endPoint);
        _byFd[backend.Fd] = backend;
        Control(Libc.CtlAdd, backend.Fd, Libc.EpollIn);
        return backend;
    }

    private void Fail(Client client, Backend backend)
    {
        Drop(backend);
        CloseClient(client);
    }

    private void Drop(Backend backend)
    {
        if (backend.Closed)
        {
            return;
        }

        backend.Closed = true;
        backend.Owner = null;
        Control(Libc.CtlDel, backend.Fd, 0);
        _byFd[backend.Fd] = null;
        backend.Socket.Dispose();
    }

    private void CloseClient(Client client)
    {
        if (_byFd[client.Fd] != client)
        {
            return;
        }

        if (client.Active is { } backend)
        {
            // Its answer is half relayed: the connection cannot be reused.
            Drop(backend);
        }

        Control(Libc.CtlDel, client.Fd, 0);
        _byFd[client.Fd] = null;
        _ = Libc.Close(client.Fd);
    }

    private static void Consume(Client client, int count)
    {
        Buffer.BlockCopy(client.In, count, client.In, 0, client.InLength - count);
        client.InLength -= count;
    }

    private void Control(int operation, int fd, uint events)
    {
        var e = new Libc.EpollEvent { Events = events, Data = (ulong)fd };
        _ = Libc.EpollCtl(_epoll, operation, fd, &e);
    }

    private sealed class Client(int fd)
    {
        public int Fd { get; } = fd;
        public byte[] In { get; } = new byte[16 * 1024];
        public int InLength { get; set; }
        public bool CloseAfter { get; set; }
        public Backend? Active { get; set; }
        // A field: Array.Resize needs it by reference.
        public byte[] Pending = [];
        public int PendingOffset { get; set; }
        public int PendingLength { get; set; }
    }

    private sealed class Backend(Socket socket, EndPoint endPoint)
    {
        public Socket Socket { get; } = socket;
        public int Fd { get; } = (int)socket.Handle;
        public EndPoint EndPoint { get; } = endPoint;
        public byte[] Buffer { get; } = new byte[64 * 1024];
        public int Filled { get; set; }
        public long Remaining { get; set; } = -1;
        public Client? Owner { get; set; }
        public bool CloseAfter { get; set; }
        public bool Closed { get; set; }
    }
}
