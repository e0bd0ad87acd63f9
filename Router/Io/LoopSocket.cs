using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Hipache.Aspire.Router.Io;

/// <summary>
/// A backend TCP connection whose receives and sends run on the <see cref="EpollLoop"/>: a receive
/// is made at once only while the socket is known readable (an event came and no short read or
/// EAGAIN followed), otherwise it waits for the loop's event and is made then, on the loop's
/// thread, and its continuation runs there inline.
/// </summary>
internal sealed class LoopSocket : IReadinessHandler, IDisposable
{
    private readonly Socket _socket;
    private readonly int _fd;
    private readonly EpollLoop _loop;
    private readonly Lock _gate = new();
    private readonly Operation _receive;
    private readonly Operation _send;
    private bool _readable;
    private bool _readClosed;
    private bool _writable = true;
    private bool _connecting;
    private int _connectError;
    private bool _disposed;

    private LoopSocket(Socket socket, EpollLoop loop)
    {
        _socket = socket;
        _fd = (int)socket.Handle;
        _loop = loop;
        _receive = new Operation(this);
        _send = new Operation(this);
    }

    public Socket Socket => _socket;

    /// <summary>
    /// Connects without blocking the loop: a name is resolved first (asynchronously, on every
    /// connect, as the socket path does), then each of its addresses is tried in turn.
    /// </summary>
    public static async ValueTask<LoopSocket> ConnectAsync(EndPoint endPoint, EpollLoop loop, CancellationToken cancellationToken)
    {
        if (endPoint is IPEndPoint ip)
        {
            return await ConnectOnceAsync(ip, loop, cancellationToken).ConfigureAwait(false);
        }

        var name = (DnsEndPoint)endPoint;
        var addresses = await Dns.GetHostAddressesAsync(name.Host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        for (var i = 0; ; i++)
        {
            try
            {
                return await ConnectOnceAsync(new IPEndPoint(addresses[i], name.Port), loop, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException) when (i < addresses.Length - 1)
            {
                // The next address.
            }
        }
    }

    private static async ValueTask<LoopSocket> ConnectOnceAsync(IPEndPoint endPoint, EpollLoop loop, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        socket.Blocking = false;
        var loopSocket = new LoopSocket(socket, loop);
        try
        {
            // Registered after connect() is under way: epoll reports a socket that is not yet
            // connecting as writable and hung up, which would read as a finished connect.
            var inProgress = false;
            try
            {
                socket.Connect(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                inProgress = true;
            }

            lock (loopSocket._gate)
            {
                loopSocket._connecting = inProgress;
                loopSocket._writable = !inProgress;
            }

            loop.Add(loopSocket._fd, loopSocket);
            if (inProgress)
            {
                await loopSocket.WaitConnectedAsync(cancellationToken).ConfigureAwait(false);
            }

            return loopSocket;
        }
        catch
        {
            loopSocket.Dispose();
            throw;
        }
    }

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        short version;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_readable || _readClosed)
            {
                var read = Recv(buffer.Span);
                if (read >= 0)
                {
                    // A short read took all the kernel had: the next arrival brings a new edge.
                    // After the peer's FIN no edge comes again, so every receive is tried.
                    if (read < buffer.Length)
                    {
                        _readable = false;
                    }

                    return new ValueTask<int>((int)read);
                }

                var error = Marshal.GetLastPInvokeError();
                if (error != Libc.ErrAgain)
                {
                    return ValueTask.FromException<int>(Errno.ToSocketException(error));
                }

                _readable = false;
            }

            version = _receive.Start(buffer);
        }

        _receive.Register(version, cancellationToken);
        return new ValueTask<int>(_receive, version);
    }

    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        short version;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_writable)
            {
                var sent = Send(buffer.Span);
                if (sent >= 0)
                {
                    return new ValueTask<int>((int)sent);
                }

                var error = Marshal.GetLastPInvokeError();
                if (error != Libc.ErrAgain)
                {
                    return ValueTask.FromException<int>(Errno.ToSocketException(error));
                }

                _writable = false;
            }

            version = _send.Start(MemoryMarshal.AsMemory(buffer));
        }

        _send.Register(version, cancellationToken);
        return new ValueTask<int>(_send, version);
    }

    public void OnReady(uint events)
    {
        Action? completeReceive = null;
        Action? completeSend = null;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            if ((events & (Libc.EpollRdHup | Libc.EpollHup | Libc.EpollErr)) != 0)
            {
                _readClosed = true;
            }

            if ((events & (Libc.EpollIn | Libc.EpollRdHup | Libc.EpollHup | Libc.EpollErr)) != 0)
            {
                _readable = true;
                if (_receive.Pending)
                {
                    var read = Recv(_receive.Buffer.Span);
                    if (read >= 0)
                    {
                        if (read < _receive.Buffer.Length)
                        {
                            _readable = false;
                        }

                        completeReceive = _receive.Finish((int)read, null);
                    }
                    else
                    {
                        var error = Marshal.GetLastPInvokeError();
                        if (error == Libc.ErrAgain)
                        {
                            _readable = false;
                        }
                        else
                        {
                            completeReceive = _receive.Finish(0, Errno.ToSocketException(error));
                        }
                    }
                }
            }

            if ((events & (Libc.EpollOut | Libc.EpollHup | Libc.EpollErr)) != 0)
            {
                _writable = true;
                if (_connecting)
                {
                    _connecting = false;
                    // Kept: the event can come before the connect's wait has begun.
                    _connectError = Libc.PendingError(_fd);
                    completeSend = _send.Finish(0, _connectError == 0 ? null : Errno.ToSocketException(_connectError));
                }
                else if (_send.Pending)
                {
                    var sent = Send(_send.Buffer.Span);
                    if (sent >= 0)
                    {
                        completeSend = _send.Finish((int)sent, null);
                    }
                    else
                    {
                        var error = Marshal.GetLastPInvokeError();
                        if (error == Libc.ErrAgain)
                        {
                            _writable = false;
                        }
                        else
                        {
                            completeSend = _send.Finish(0, Errno.ToSocketException(error));
                        }
                    }
                }
            }
        }

        completeReceive?.Invoke();
        completeSend?.Invoke();
    }

    public void Dispose()
    {
        Action? completeReceive;
        Action? completeSend;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            completeReceive = _receive.Finish(0, new ObjectDisposedException(nameof(LoopSocket)));
            completeSend = _send.Finish(0, new ObjectDisposedException(nameof(LoopSocket)));
        }

        _loop.Remove(_fd, this);
        _socket.Dispose();
        completeReceive?.Invoke();
        completeSend?.Invoke();
    }

    private ValueTask WaitConnectedAsync(CancellationToken cancellationToken)
    {
        short version;
        lock (_gate)
        {
            if (!_connecting)
            {
                return _connectError == 0 ? ValueTask.CompletedTask : ValueTask.FromException(Errno.ToSocketException(_connectError));
            }

            version = _send.Start(Memory<byte>.Empty);
        }

        _send.Register(version, cancellationToken);
        return new ValueTask(_send, version);
    }

    private void Cancel(Operation operation, short version, CancellationToken token)
    {
        Action? complete = null;
        lock (_gate)
        {
            if (operation.Pending && operation.Version == version)
            {
                complete = operation.Finish(0, new OperationCanceledException(token));
            }
        }

        complete?.Invoke();
    }

    private unsafe nint Recv(Span<byte> buffer)
    {
        fixed (byte* bytes = buffer)
        {
            return Libc.Recv(_fd, bytes, buffer.Length, 0);
        }
    }

    private unsafe nint Send(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* bytes = buffer)
        {
            return Libc.Send(_fd, bytes, buffer.Length, Libc.MsgNoSignal);
        }
    }

    /// <summary>One pending receive or send (or the connect), completed by the loop, a cancellation or Dispose.</summary>
    private sealed class Operation : IValueTaskSource<int>, IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<int> _core;
        private CancellationTokenRegistration _registration;
        private readonly Action _complete;
        private int _result;
        private Exception? _error;

        public Operation(LoopSocket owner)
        {
            Owner = owner;
            _complete = Complete;
        }

        public bool Pending { get; private set; }

        public Memory<byte> Buffer { get; private set; }

        public short Version => _core.Version;

        /// <summary>Under the owner's lock.</summary>
        public short Start(Memory<byte> buffer)
        {
            _core.Reset();
            Buffer = buffer;
            Pending = true;
            return _core.Version;
        }

        public void Register(short version, CancellationToken token)
        {
            if (!token.CanBeCanceled)
            {
                return;
            }

            var registration = token.UnsafeRegister(static (state, token) =>
            {
                var (operation, version) = ((Operation, short))state!;
                operation.Owner.Cancel(operation, version, token);
            }, (this, version));
            lock (Owner._gate)
            {
                if (Pending && _core.Version == version)
                {
                    _registration = registration;
                    return;
                }
            }

            registration.Unregister();
        }

        public LoopSocket Owner { get; }

        /// <summary>Under the owner's lock: ends the operation; the returned action completes it (outside the lock).</summary>
        public Action? Finish(int result, Exception? error)
        {
            if (!Pending)
            {
                return null;
            }

            Pending = false;
            Buffer = default;
            _result = result;
            _error = error;
            var registration = _registration;
            _registration = default;
            registration.Unregister();
            return _complete;
        }

        private void Complete()
        {
            if (_error is { } error)
            {
                _core.SetException(error);
            }
            else
            {
                _core.SetResult(_result);
            }
        }

        public int GetResult(short token) => _core.GetResult(token);

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
