using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

/// <summary>
/// A Kestrel transport that reads a socket only when epoll says it is ready (the "kestrel-epoll"
/// reference): one thread runs epoll_wait, receives what is ready into the connection's input pipe
/// and lets Kestrel parse and answer inline; sends go straight from the output pipe, waiting on
/// EPOLLOUT only when the kernel's buffer is full. A measurement of what a readiness-first
/// transport is worth under Kestrel's HTTP layer, for the bench's requests; not a product path
/// (no TLS-specific features, no graceful half-close handling beyond the bench's needs).
/// </summary>
internal sealed class EpollTransportFactory : IConnectionListenerFactory
{
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new(new EpollListener((IPEndPoint)endpoint));

    private sealed class EpollListener : IConnectionListener
    {
        private readonly Socket _listener;
        private readonly int _listenFd;
        private readonly int _epoll;
        private readonly Channel<EpollConnection> _accepted = Channel.CreateUnbounded<EpollConnection>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        private readonly EpollConnection?[] _byFd = new EpollConnection?[1 << 16];
        private long _nextId;

        public EpollListener(IPEndPoint endPoint)
        {
            _listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(endPoint);
            _listener.Listen(4096);
            _listener.Blocking = false;
            EndPoint = _listener.LocalEndPoint!;
            _listenFd = (int)_listener.Handle;
            _epoll = Libc.EpollCreate1(Libc.SockCloexec);
            Control(Libc.CtlAdd, _listenFd, Libc.EpollIn);
            new Thread(Loop) { IsBackground = true, Name = "epoll transport" }.Start();
        }

        public EndPoint EndPoint { get; }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _accepted.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _accepted.Writer.TryComplete();
            _listener.Dispose();
            return ValueTask.CompletedTask;
        }

        internal unsafe void Control(int operation, int fd, uint events)
        {
            var e = new Libc.EpollEvent { Events = events, Data = (ulong)fd };
            _ = Libc.EpollCtl(_epoll, operation, fd, &e);
        }

        internal void Forget(EpollConnection connection)
        {
            Control(Libc.CtlDel, connection.Fd, 0);
            Interlocked.CompareExchange(ref _byFd[connection.Fd], null, connection);
        }

        private unsafe void Loop()
        {
            var events = stackalloc Libc.EpollEvent[256];
            while (true)
            {
                var count = Libc.EpollWait(_epoll, events, 256, -1);
                for (var i = 0; i < count; i++)
                {
                    var fd = (int)events[i].Data;
                    if (fd == _listenFd)
                    {
                        AcceptAll();
                        continue;
                    }

                    if (Volatile.Read(ref _byFd[fd]) is not { } connection)
                    {
                        continue;
                    }

                    var ready = events[i].Events;
                    try
                    {
                        if ((ready & Libc.EpollOut) != 0)
                        {
                            connection.OnWritable();
                        }

                        if ((ready & ~Libc.EpollOut) != 0)
                        {
                            connection.OnReadable();
                        }
                    }
                    catch (InvalidOperationException)
                    {
                        // The connection was closed by Kestrel as its event came in: its pipe is completed.
                    }
                }
            }
        }

        private void AcceptAll()
        {
            while (true)
            {
                var fd = Libc.Accept4(_listenFd, IntPtr.Zero, IntPtr.Zero, Libc.SockNonBlock | Libc.SockCloexec);
                if (fd < 0)
                {
                    return;
                }

                Libc.NoDelay(fd);
                var connection = new EpollConnection(this, fd, Interlocked.Increment(ref _nextId), EndPoint);
                Volatile.Write(ref _byFd[fd], connection);
                Control(Libc.CtlAdd, fd, Libc.EpollIn);
                connection.StartSending();
                _accepted.Writer.TryWrite(connection);
            }
        }
    }

    private sealed class EpollConnection : ConnectionContext
    {
        private static readonly PipeOptions Options = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false);
        private readonly EpollListener _listener;
        private readonly Pipe _input = new(Options);
        private readonly Pipe _output = new(Options);
        private readonly CancellationTokenSource _closed = new();
        private TaskCompletionSource? _writable;
        private Task _sending = Task.CompletedTask;
        private bool _readingPaused;
        private int _fdClosed;

        public EpollConnection(EpollListener listener, int fd, long id, EndPoint local)
        {
            _listener = listener;
            Fd = fd;
            ConnectionId = "epoll-" + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Transport = new DuplexPipe(_input.Reader, _output.Writer);
            LocalEndPoint = local;
            RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 0);
            ConnectionClosed = _closed.Token;
        }

        public int Fd { get; }

        public override string ConnectionId { get; set; }

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

        public override IDuplexPipe Transport { get; set; }

        public void StartSending() => _sending = SendLoopAsync();

        /// <summary>On the epoll thread: receive what is ready and let Kestrel run inline.</summary>
        public unsafe void OnReadable()
        {
            if (_readingPaused)
            {
                return;
            }

            var memory = _input.Writer.GetMemory(4096);
            if (!MemoryMarshal.TryGetArray<byte>(memory, out var segment))
            {
                throw new InvalidOperationException("The pipe's memory is not an array.");
            }

            nint read;
            fixed (byte* buffer = &segment.Array![segment.Offset])
            {
                read = Libc.Recv(Fd, buffer, segment.Count, 0);
            }

            if (read < 0 && Marshal.GetLastPInvokeError() == Libc.ErrAgain)
            {
                return;
            }

            if (read <= 0)
            {
                // The client closed (or failed): no more input; stop listening for reads.
                _readingPaused = true;
                _listener.Control(Libc.CtlMod, Fd, 0);
                _input.Writer.Complete();
                return;
            }

            _input.Writer.Advance((int)read);
            var flush = _input.Writer.FlushAsync();
            if (!flush.IsCompleted)
            {
                // Kestrel has not consumed what it has: stop reading until it does.
                _readingPaused = true;
                _listener.Control(Libc.CtlMod, Fd, 0);
                _ = ResumeAfterAsync(flush);
            }
        }

        /// <summary>On the epoll thread: the kernel's send buffer has room again.</summary>
        public void OnWritable() => Interlocked.Exchange(ref _writable, null)?.TrySetResult();

        public override void Abort(ConnectionAbortedException abortReason)
        {
            _output.Reader.CancelPendingRead();
            CloseFd();
        }

        public override async ValueTask DisposeAsync()
        {
            _output.Writer.Complete();
            await _sending.ConfigureAwait(false);
            CloseFd();
            _input.Reader.Complete();
            _closed.Dispose();
            await base.DisposeAsync().ConfigureAwait(false);
        }

        private async Task ResumeAfterAsync(ValueTask<FlushResult> flush)
        {
            var result = await flush.ConfigureAwait(false);
            if (result.IsCompleted || Volatile.Read(ref _fdClosed) != 0)
            {
                return;
            }

            _readingPaused = false;
            _listener.Control(Libc.CtlMod, Fd, Libc.EpollIn);
        }

        private async Task SendLoopAsync()
        {
            var reader = _output.Reader;
            try
            {
                while (true)
                {
                    var result = await reader.ReadAsync().ConfigureAwait(false);
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    foreach (var segment in result.Buffer)
                    {
                        var remaining = segment;
                        while (!remaining.IsEmpty)
                        {
                            var sent = Send(remaining.Span);
                            if (sent < 0)
                            {
                                if (Marshal.GetLastPInvokeError() != Libc.ErrAgain)
                                {
                                    reader.Complete();
                                    CloseFd();
                                    return;
                                }

                                await WaitWritableAsync().ConfigureAwait(false);
                                continue;
                            }

                            remaining = remaining[(int)sent..];
                        }
                    }

                    reader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // The reader was completed by an abort.
            }

            reader.Complete();
        }

        private unsafe nint Send(ReadOnlySpan<byte> bytes)
        {
            if (Volatile.Read(ref _fdClosed) != 0)
            {
                Marshal.SetLastPInvokeError(32);
                return -1;
            }

            fixed (byte* buffer = bytes)
            {
                return Libc.Send(Fd, buffer, bytes.Length, Libc.MsgNoSignal);
            }
        }

        private Task WaitWritableAsync()
        {
            var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _writable, waiting);
            _listener.Control(Libc.CtlMod, Fd, (_readingPaused ? 0 : Libc.EpollIn) | Libc.EpollOut);
            return waiting.Task.ContinueWith(
                static (_, state) =>
                {
                    var connection = (EpollConnection)state!;
                    connection._listener.Control(Libc.CtlMod, connection.Fd, connection._readingPaused ? 0 : Libc.EpollIn);
                },
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        private void CloseFd()
        {
            if (Interlocked.Exchange(ref _fdClosed, 1) != 0)
            {
                return;
            }

            _listener.Forget(this);
            _ = Libc.Close(Fd);
            _input.Writer.Complete();
            Interlocked.Exchange(ref _writable, null)?.TrySetResult();
            try
            {
                _closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
