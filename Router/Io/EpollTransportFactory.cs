using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Hipache.Aspire.Router.Io;

/// <summary>
/// Kestrel's transport with <c>Router:IoEngine=Epoll</c>: each TCP connection belongs to one of the
/// <see cref="EpollLoops"/>, whose thread receives what epoll says is ready into the connection's
/// input pipe and lets Kestrel and the router run inline; sends go straight from the output pipe,
/// waiting for write readiness only when the kernel's buffer is full. Kestrel's socket transport
/// tries a receive before every wait (an EAGAIN a request on each side) and completes through event
/// args and a second dispatch; this one reads only when told to (bench/RESULTS.md). Endpoints other
/// than IP (Unix sockets) stay on the socket transport.
/// </summary>
internal sealed class EpollTransportFactory(EpollLoops loops, IMemoryPoolFactory<byte> pools) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>As Kestrel's socket transport: MaxReadBufferSize and MaxWriteBufferSize.</summary>
    private const long InputPause = 1024 * 1024;
    private const long OutputPause = 64 * 1024;

    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip)
        {
            throw new NotSupportedException($"The epoll transport binds IP endpoints only, not {endpoint}.");
        }

        return new(new EpollListener(ip, loops, pools.Create()));
    }

    private sealed class EpollListener : IConnectionListener, IReadinessHandler
    {
        private readonly Socket _listener;
        private readonly int _listenFd;
        // Kestrel's accept loop runs inline on the loop thread (it only hands the connection to the
        // thread pool and asks for the next): resumed asynchronously, each new connection cost one
        // more thread-pool wake-up before Kestrel's own, and on one core every wake-up is a handful
        // of context switches (perf sched: ~12 a fresh-connection request against haproxy's 2).
        private readonly Channel<EpollConnection> _accepted = Channel.CreateUnbounded<EpollConnection>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });
        private readonly MemoryPool<byte> _pool;
        private readonly EpollLoops _loops;
        private readonly EpollLoop _acceptLoop;
        private long _nextId;

        public EpollListener(IPEndPoint endPoint, EpollLoops loops, MemoryPool<byte> pool)
        {
            _pool = pool;
            _loops = loops;
            _listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                _listener.DualMode = true;
            }

            Libc.ReuseAddressOnly((int)_listener.Handle);
            try
            {
                _listener.Bind(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // Kestrel's own words for it ("Failed to bind to address ...: address already in use"),
                // and its fallback from "localhost" to the address family that is free.
                _listener.Dispose();
                throw new Microsoft.AspNetCore.Connections.AddressInUseException(ex.Message, ex);
            }

            _listener.Listen(4096);
            _listener.Blocking = false;
            EndPoint = _listener.LocalEndPoint!;
            _listenFd = (int)_listener.Handle;
            _acceptLoop = loops.Next();
            _acceptLoop.Add(_listenFd, this);
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
            // New connections wait in the kernel's backlog no more: closing the socket refuses them.
            Close();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            Close();
            _pool.Dispose();
            return ValueTask.CompletedTask;
        }

        private void Close()
        {
            if (_accepted.Writer.TryComplete())
            {
                _acceptLoop.Remove(_listenFd, this);
                _listener.Dispose();
            }

            // Connections accepted and not yet taken by Kestrel are closed.
            while (_accepted.Reader.TryRead(out var connection))
            {
                connection.Abort(new ConnectionAbortedException("The listener was closed."));
            }
        }

        public unsafe void OnReady(uint events)
        {
            var address = stackalloc byte[128];
            while (true)
            {
                var length = 128;
                var fd = Libc.Accept4(_listenFd, address, &length, Libc.SockNonBlock | Libc.SockCloexec);
                if (fd < 0)
                {
                    var error = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                    if (error == Libc.ErrInterrupted || error == Libc.ErrConnectionAborted)
                    {
                        continue;
                    }

                    // EAGAIN: the backlog is empty. EMFILE and the like: the next edge tries again.
                    return;
                }

                Libc.NoDelay(fd);
                var remote = Parse(address);
                length = 128;
                var local = Libc.GetSockName(fd, address, &length) == 0 ? Parse(address) : EndPoint;
                var connection = new EpollConnection(fd, Interlocked.Increment(ref _nextId), local, remote, _pool);
                var loop = _loops.Next();
                try
                {
                    loop.Add(fd, connection);
                }
                catch (SocketException)
                {
                    _ = Libc.Close(fd);
                    continue;
                }

                connection.Start(loop);
                if (!_accepted.Writer.TryWrite(connection))
                {
                    connection.Abort(new ConnectionAbortedException("The listener was closed."));
                }
            }
        }

        private static unsafe IPEndPoint Parse(byte* address)
        {
            var family = address[0] | (address[1] << 8);
            var port = (address[2] << 8) | address[3];
            if (family == 2)
            {
                return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(address + 4, 4)), port);
            }

            var ip = new IPAddress(new ReadOnlySpan<byte>(address + 8, 16));
            return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, port);
        }
    }

    private sealed class EpollConnection : ConnectionContext, IReadinessHandler, IMemoryPoolFeature
    {
        private const int GatherSize = 64 * 1024;

        [ThreadStatic]
        private static byte[]? t_gather;

        private readonly Pipe _input;
        private readonly Pipe _output;
        private readonly CancellationTokenSource _closed = new();
        private readonly Lock _gate = new();
        private readonly Lock _fdGate = new();
        private TaskCompletionSource? _writable;
        private Task _sending = Task.CompletedTask;
        private int _readRequests;
        private volatile bool _readClosed;
        private bool _outEdge;
        private bool _readingPaused;
        private bool _inputDone;
        private int _fdClosed;

        public EpollConnection(int fd, long id, EndPoint local, EndPoint remote, MemoryPool<byte> pool)
        {
            MemoryPool = pool;
            _input = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, InputPause, InputPause / 2, useSynchronizationContext: false));
            _output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, PipeScheduler.Inline, OutputPause, OutputPause / 2, useSynchronizationContext: false));
            Features.Set<IMemoryPoolFeature>(this);
            Fd = fd;
            ConnectionId = "epoll-" + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Transport = new DuplexPipe(_input.Reader, _output.Writer);
            LocalEndPoint = local;
            RemoteEndPoint = remote;
            ConnectionClosed = _closed.Token;
        }

        public int Fd { get; }

        public MemoryPool<byte> MemoryPool { get; }

        public override string ConnectionId { get; set; }

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

        public override IDuplexPipe Transport { get; set; }

        private EpollLoop? _loop;

        public void Start(EpollLoop loop)
        {
            _loop = loop;
            _sending = SendLoopAsync();
        }

        public unsafe void OnReady(uint events)
        {
            if ((events & (Libc.EpollOut | Libc.EpollErr | Libc.EpollHup)) != 0)
            {
                TaskCompletionSource? writable;
                lock (_gate)
                {
                    writable = _writable;
                    _writable = null;
                    _outEdge = writable is null;
                }

                writable?.TrySetResult();
            }

            if ((events & (Libc.EpollRdHup | Libc.EpollHup | Libc.EpollErr)) != 0)
            {
                // No edge comes after the client's FIN: read on past short reads until the 0.
                _readClosed = true;
            }

            if ((events & (Libc.EpollIn | Libc.EpollRdHup | Libc.EpollHup | Libc.EpollErr)) != 0)
            {
                RequestRead();
            }
        }

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

        /// <summary>
        /// A read edge came (or back-pressure ended): one pass of receives at a time, and another pass
        /// when an edge came during one, so that no edge is lost between a receive and its EAGAIN.
        /// </summary>
        private void RequestRead()
        {
            if (Interlocked.Increment(ref _readRequests) > 1)
            {
                return;
            }

            while (true)
            {
                ReadPass();
                if (Interlocked.Decrement(ref _readRequests) == 0)
                {
                    return;
                }

                Volatile.Write(ref _readRequests, 1);
            }
        }

        private unsafe void ReadPass()
        {
            while (true)
            {
                if (_inputDone || _readingPaused)
                {
                    return;
                }

                if (Volatile.Read(ref _fdClosed) != 0)
                {
                    // Completed here, by the one pass running, never beside a write to the pipe.
                    _inputDone = true;
                    _input.Writer.Complete();
                    return;
                }

                var memory = _input.Writer.GetMemory(4096);
                nint read;
                lock (_fdGate)
                {
                    if (_fdClosed != 0)
                    {
                        continue;
                    }

                    fixed (byte* buffer = memory.Span)
                    {
                        read = Libc.Recv(Fd, buffer, memory.Length, 0);
                    }
                }

                if (read < 0)
                {
                    var error = Marshal.GetLastPInvokeError();
                    if (error == Libc.ErrAgain)
                    {
                        return;
                    }

                    if (error == Libc.ErrInterrupted)
                    {
                        continue;
                    }

                    _inputDone = true;
                    _input.Writer.Complete(new ConnectionResetException("recv failed: " + error));
                    return;
                }

                if (read == 0)
                {
                    _inputDone = true;
                    _input.Writer.Complete();
                    return;
                }

                _input.Writer.Advance((int)read);
                var flush = _input.Writer.FlushAsync();
                if (!flush.IsCompleted)
                {
                    _readingPaused = true;
                    _ = ResumeAfterAsync(flush);
                    return;
                }

                if (flush.Result.IsCompleted)
                {
                    _inputDone = true;
                    return;
                }

                if (read < memory.Length && !_readClosed)
                {
                    // All the kernel had: the next arrival brings a new edge.
                    return;
                }
            }
        }

        private async Task ResumeAfterAsync(ValueTask<FlushResult> flush)
        {
            var result = await flush.ConfigureAwait(false);
            _readingPaused = false;
            if (result.IsCompleted)
            {
                _inputDone = true;
                return;
            }

            RequestRead();
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

                    var pending = result.Buffer;
                    while (!pending.IsEmpty)
                    {
                        // One send for what the pipe holds in several blocks (a big body comes
                        // in 4 KB blocks: a send each cost S5 half its rate), as the socket
                        // transport's gathered send does.
                        var sent = pending.IsSingleSegment ? Send(pending.FirstSpan) : SendGathered(pending);
                        if (sent < 0)
                        {
                            var error = Marshal.GetLastPInvokeError();
                            if (error == Libc.ErrInterrupted)
                            {
                                continue;
                            }

                            if (error != Libc.ErrAgain)
                            {
                                reader.Complete();
                                CloseFd();
                                return;
                            }

                            if (WaitWritable() is { } waiting)
                            {
                                await waiting.ConfigureAwait(false);
                            }

                            continue;
                        }

                        pending = pending.Slice(sent);
                    }

                    reader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        // The app is done with the connection: tell the client (FIN) before the close.
                        lock (_fdGate)
                        {
                            if (_fdClosed == 0)
                            {
                                _ = Libc.Shutdown(Fd, 1);
                            }
                        }

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

        /// <summary>Up to <see cref="GatherSize"/> bytes of several blocks, copied into this thread's scratch buffer and sent at once.</summary>
        private nint SendGathered(in ReadOnlySequence<byte> pending)
        {
            var scratch = t_gather ??= GC.AllocateUninitializedArray<byte>(GatherSize, pinned: true);
            var length = (int)Math.Min(pending.Length, GatherSize);
            pending.Slice(0, length).CopyTo(scratch);
            return Send(scratch.AsSpan(0, length));
        }

        /// <summary>Under <see cref="_fdGate"/>, so that a close never lands between the check and the call (the number could be another connection's by then).</summary>
        private unsafe nint Send(ReadOnlySpan<byte> bytes)
        {
            lock (_fdGate)
            {
                if (_fdClosed != 0)
                {
                    Marshal.SetLastPInvokeError(32);
                    return -1;
                }

                fixed (byte* buffer = bytes)
                {
                    return Libc.Send(Fd, buffer, bytes.Length, Libc.MsgNoSignal);
                }
            }
        }

        /// <summary>After an EAGAIN: null to try again at once (a write edge came meanwhile), else the wait for the next one.</summary>
        private Task? WaitWritable()
        {
            lock (_gate)
            {
                if (_outEdge || Volatile.Read(ref _fdClosed) != 0)
                {
                    _outEdge = false;
                    return null;
                }

                var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _writable = waiting;
                return waiting.Task;
            }
        }

        private void CloseFd()
        {
            lock (_fdGate)
            {
                if (_fdClosed != 0)
                {
                    return;
                }

                _fdClosed = 1;
                _loop?.Remove(Fd, this);
                _ = Libc.Close(Fd);
            }

            // The read pass completes the input (serialised with a pass that may be running).
            RequestRead();
            TaskCompletionSource? writable;
            lock (_gate)
            {
                writable = _writable;
                _writable = null;
            }

            writable?.TrySetResult();
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
