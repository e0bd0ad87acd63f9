using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// One TCP connection to a backend and its receive buffer. The buffer holds what was received and
/// not yet consumed (<see cref="Buffered"/>); parsers consume from its front. A token cancels
/// I/O when the backend stays silent for the activity timeout (YARP's ActivityTimeout), counted
/// from its last operation, and when the client goes away.
/// </summary>
internal sealed class BackendConnection : IDisposable
{
    /// <summary>Large enough for any sane response head and for big bodies in few reads (S5).</summary>
    public const int BufferSize = 64 * 1024;

    private readonly Socket _socket;
    private readonly Io.LoopSocket? _loop;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private CancellationTokenSource _cancel = new();
    private CancellationTokenRegistration _clientAborted;
    private TimeSpan _activityTimeout;

    // The activity timeout, checked lazily (as HAProxy checks its expiry dates): an operation only
    // records its time, and one timer per connection fires at the earliest possible expiry, then
    // either cancels or sets itself for the rest. Re-arming a CancelAfter on every operation took
    // the timer queue's lock three or four times a request (perf: ~1.2 % of the router's core,
    // ~0.5 % this way). _timerLock orders the exchange's start and end with the timer.
    private readonly Lock _timerLock = new();
    private Timer? _activityTimer;
    private long _activityTimeoutMs;
    private long _lastActivity;
    private long _timerDueAt;
    private bool _inExchange;
    private ResponseBodyCopier? _body;
    private int _aborted;
    private bool _disposed;

    // The receive posted when the connection went idle: it completes when the backend closes the
    // connection or sends something unasked (the connection is then unusable), or, after the
    // next request is sent, with the start of its response.
    private ValueTask<int> _idleRead;
    private bool _idleReading;

    private BackendConnection(Io.LoopSocket loop)
        : this(loop.Socket)
    {
        _loop = loop;
    }

    private BackendConnection(Socket socket)
    {
        _socket = socket;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    /// <summary>This connection served a request before: it may have been closed by the backend while idle.</summary>
    public bool Reused { get; set; }

    /// <summary><see cref="Environment.TickCount64"/> when it went back to the pool.</summary>
    public long IdleSince { get; set; }

    /// <summary>The token of the current exchange: activity timeout, client abort, or <see cref="Abort"/>.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>The activity timer fired (as opposed to the client leaving or <see cref="Abort"/>).</summary>
    public bool TimedOut => _cancel.IsCancellationRequested && Volatile.Read(ref _aborted) == 0;

    /// <summary>Why the exchange was cancelled first, when it was not the timer.</summary>
    public AbortReason AbortedBecause => (AbortReason)Volatile.Read(ref _aborted);

    /// <summary>The response head of the current exchange, parsed in place.</summary>
    public ResponseHead Head { get; } = new();

    /// <summary>This connection's recent response header values, reused as strings.</summary>
    public HeaderValueCache HeaderValues { get; } = new();

    /// <summary>Relays response bodies from this connection's buffer.</summary>
    public ResponseBodyCopier Body => _body ??= new ResponseBodyCopier(this);

    public ReadOnlySpan<byte> Buffered => _buffer.AsSpan(_start, _end - _start);

    public int BufferedCount => _end - _start;

    /// <summary>Bytes the kernel already holds for this socket: more of the burst is here, no flush yet.</summary>
    public int Available => _socket.Available;

    /// <param name="loops">With Router:IoEngine=Epoll: the connection's I/O runs on the caller's loop.</param>
    public static async ValueTask<BackendConnection> ConnectAsync(EndPoint endPoint, Io.EpollLoops? loops, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (loops is not null)
        {
            using var loopTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            loopTimeout.CancelAfter(timeout);
            try
            {
                return new BackendConnection(await Io.LoopSocket.ConnectAsync(endPoint, loops.CurrentOrNext(), loopTimeout.Token).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {endPoint} took more than the ConnectTimeout ({timeout}).");
            }
        }

        var socket = endPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(timeout);
            try
            {
                await socket.ConnectAsync(endPoint, connectTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Connecting to {endPoint} took more than the ConnectTimeout ({timeout}).");
            }

            return new BackendConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Posts the receive of the next response as the connection goes idle (HAProxy's idle
    /// connections, subscribed to reads): the backend closing it or sending something unasked
    /// completes that receive while it sits in the pool, so reuse costs no syscall to find out
    /// (it was one FIONREAD per request), and the response to the next request needs no read
    /// attempt after its head is sent (the posted receive waits for it). False when the receive
    /// completed at once (bytes or a close already there) or the connection cannot take one: it
    /// is not to be pooled.
    /// </summary>
    public bool TryStartIdleRead()
    {
        if (_idleReading || _end != _start || _cancel.IsCancellationRequested)
        {
            return false;
        }

        _start = _end = 0;
        try
        {
            // Stored, then consumed once: by the exchange that awaits it, or never (Dispose).
#pragma warning disable CA2012
            _idleRead = _loop is { } loop ? loop.ReceiveAsync(_buffer.AsMemory(), _cancel.Token) : _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, _cancel.Token);
#pragma warning restore CA2012
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }

        _idleReading = true;
        return !_idleRead.IsCompleted;
    }

    /// <summary>
    /// Whether an idle connection can take a request: its posted receive is still waiting (no
    /// close, no unasked bytes seen) and the kernel holds nothing for it either. The posted receive
    /// alone is not enough: bytes can sit in the kernel before the event loop hands them to it (a
    /// loaded CI machine served a backend's unasked bytes as the next answer that way), so every
    /// reuse asks the kernel, with FIONREAD, or, with <paramref name="probe"/>, with a poll that
    /// also sees a close (for requests that could not be sent again). Without <paramref name="probe"/>
    /// a close is found by the keep-alive race retry. Bytes that arrive after this check and before
    /// the request is sent are indistinguishable from an answer.
    /// </summary>
    public bool IsIdleUsable(bool probe)
    {
        try
        {
            return _idleReading && !_idleRead.IsCompleted && (probe ? !_socket.Poll(0, SelectMode.SelectRead) : _socket.Available == 0);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Arms the activity timer and ties the exchange to the client's abort token.</summary>
    public void BeginExchange(TimeSpan activityTimeout, CancellationToken clientAborted)
    {
        // Not TryReset: it would drop the posted idle receive's registration, and the activity
        // timer could no longer cancel it. A timer that fired after the last exchange finds no
        // exchange and cancels nothing; one that cancelled as that exchange ended has cancelled
        // the idle receive too, and IsIdleUsable refused the connection.
        if (_cancel.IsCancellationRequested)
        {
            _cancel.Dispose();
            _cancel = new CancellationTokenSource();
        }

        _aborted = 0;
        _activityTimeout = activityTimeout;
        _clientAborted = clientAborted.UnsafeRegister(static state => ((BackendConnection)state!).Abort(AbortReason.ClientGone), this);
        var now = Environment.TickCount64;
        Volatile.Write(ref _lastActivity, now);
        lock (_timerLock)
        {
            // Bounded to what a Timer takes (and far beyond any sane timeout: 24 days).
            _activityTimeoutMs = activityTimeout > TimeSpan.Zero ? Math.Clamp((long)activityTimeout.TotalMilliseconds, 1, int.MaxValue) : 0;
            _inExchange = true;
            if (_activityTimeoutMs > 0)
            {
                ArmBy(now + _activityTimeoutMs, now);
            }
        }
    }

    /// <summary>Ends the exchange: the timer no longer counts, no more tie to the client.</summary>
    public void EndExchange()
    {
        _clientAborted.Dispose();
        _clientAborted = default;
        lock (_timerLock)
        {
            // The timer stays set: it finds no exchange when it fires and stops, unless the next
            // exchange on this connection has begun and needs it by then.
            _inExchange = false;
        }
    }

    /// <summary>Cancels whatever I/O is pending on this connection (client gone, request body failed, exchange over).</summary>
    public void Abort(AbortReason reason)
    {
        Interlocked.CompareExchange(ref _aborted, (int)reason, 0);
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The exchange is over.
        }
    }

    /// <summary>The backend did something: the activity timeout counts from now.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);

    /// <summary>Sets the timer to fire by <paramref name="deadline"/> unless it already will. Under <see cref="_timerLock"/>.</summary>
    private void ArmBy(long deadline, long now)
    {
        if (_timerDueAt != 0 && _timerDueAt <= deadline)
        {
            return;
        }

        _timerDueAt = deadline;
        _activityTimer ??= CreateTimer();
        _activityTimer.Change(Math.Max(1, deadline - now), Timeout.Infinite);
    }

    private Timer CreateTimer()
    {
        // Without the request's execution context: the timer outlives the exchange that creates it.
        var suppressed = !ExecutionContext.IsFlowSuppressed();
        if (suppressed)
        {
            ExecutionContext.SuppressFlow();
        }

        try
        {
            return new Timer(static state => ((BackendConnection)state!).OnActivityTimer(), this, Timeout.Infinite, Timeout.Infinite);
        }
        finally
        {
            if (suppressed)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    private void OnActivityTimer()
    {
        CancellationTokenSource cancel;
        lock (_timerLock)
        {
            _timerDueAt = 0;
            if (!_inExchange || _activityTimeoutMs == 0 || _disposed)
            {
                return;
            }

            var now = Environment.TickCount64;
            var expiresAt = Volatile.Read(ref _lastActivity) + _activityTimeoutMs;
            if (now < expiresAt)
            {
                ArmBy(expiresAt, now);
                return;
            }

            cancel = _cancel;
        }

        try
        {
            // Not Abort: a cancellation with no abort reason is what TimedOut reports. Outside the
            // lock, because cancelling runs the socket's callbacks; an exchange that ended and a
            // next one that began in the instant since the check would be cancelled too, the same
            // window a firing CancelAfter timer had.
            cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connection closed as the timer fired.
        }
    }

    /// <summary>
    /// Receives more bytes after what is buffered: pass the count to <see cref="Received"/> (0 when
    /// the backend closed). Not an async method, so that a receive costs no state machine of its
    /// own; when the activity timer cancels it, it throws OperationCanceledException, which
    /// <see cref="AsTimeout"/> turns into the TimeoutException it stands for.
    /// </summary>
    public ValueTask<int> ReceiveAsync()
    {
        if (_idleReading)
        {
            // Posted when the connection went idle, into the empty buffer's start.
            _idleReading = false;
            return _idleRead;
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                throw new InvalidDataException($"More than {BufferSize} bytes without the end of a line or head.");
            }

            // Keep the unconsumed tail at the front so a line or head that spans reads stays contiguous.
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        return _loop is { } loop ? loop.ReceiveAsync(_buffer.AsMemory(_end), _cancel.Token) : _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, _cancel.Token);
    }

    /// <summary>Records what <see cref="ReceiveAsync"/> received; returns it.</summary>
    public int Received(int read)
    {
        _end += read;
        Touch();
        return read;
    }

    /// <summary>A cancellation by the activity timer as the timeout it is; any other exception as it is.</summary>
    public Exception AsTimeout(Exception exception) =>
        exception is OperationCanceledException && TimedOut ? new TimeoutException($"The backend sent nothing for {_activityTimeout}.", exception) : exception;

    public void Consume(int count) => _start += count;

    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty)
            {
                var sent = _loop is { } loop
                    ? await loop.SendAsync(bytes, _cancel.Token).ConfigureAwait(false)
                    : await _socket.SendAsync(bytes, SocketFlags.None, _cancel.Token).ConfigureAwait(false);
                bytes = bytes[sent..];
                Touch();
            }
        }
        catch (OperationCanceledException) when (TimedOut)
        {
            throw new TimeoutException($"The backend took nothing for {_activityTimeout}.");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        lock (_timerLock)
        {
            _disposed = true;
            _inExchange = false;
        }

        _activityTimer?.Dispose();
        _clientAborted.Dispose();
        // A receive still posted may be writing into the buffer as the socket closes: then the
        // buffer is left to the GC, never handed to another connection.
        var receiving = _idleReading && !_idleRead.IsCompleted;
        if (_loop is { } loop)
        {
            loop.Dispose();
        }
        else
        {
            _socket.Dispose();
        }

        _cancel.Dispose();
        var buffer = _buffer;
        _buffer = [];
        if (!receiving)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Who cancelled a connection's exchange.</summary>
internal enum AbortReason
{
    None,

    /// <summary>The client went away.</summary>
    ClientGone,

    /// <summary>Reading the client's request body failed; the backend would wait for the rest forever.</summary>
    RequestBodyFailed,

    /// <summary>The exchange is over (answered early, or the backend failed) and stops what is still pending.</summary>
    ExchangeOver,
}
