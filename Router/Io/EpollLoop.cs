using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.Router.Io;

/// <summary>Something registered with a loop: told, on the loop's thread, which events its descriptor had.</summary>
internal interface IReadinessHandler
{
    void OnReady(uint events);
}

/// <summary>
/// One thread waiting in epoll_wait and running the handler of each ready descriptor inline
/// (edge-triggered: read and write readiness registered once per descriptor). Readiness-first
/// I/O: a receive is made when the kernel said there is something to receive, never to find out.
/// </summary>
internal sealed partial class EpollLoop : IDisposable
{
    // struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [ThreadStatic]
    private static EpollLoop? t_current;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Lock _gate = new();
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private IReadinessHandler?[] _handlers = new IReadinessHandler?[1024];
    private volatile bool _disposed;
    private bool _closed;

    public EpollLoop(int index, ILogger logger)
    {
        _logger = logger;
        _epoll = Libc.EpollCreate1(Libc.SockCloexec);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        // Dispose wakes the thread through this; the thread closes the epoll descriptor itself, so
        // that no epoll_ctl can reach a reused descriptor number (another router's loop in tests).
        _wake = Libc.EventFd(0, Libc.SockCloexec | Libc.SockNonBlock);
        if (_wake < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            _ = Libc.Close(_epoll);
            throw new InvalidOperationException($"eventfd failed (errno {error}).");
        }

        Control(Libc.CtlAdd, _wake, Libc.EpollIn);

        _thread = new Thread(Run) { IsBackground = true, Name = $"epoll loop {index}" };
        _thread.UnsafeStart();
    }

    /// <summary>The loop whose thread is running the caller, if any.</summary>
    public static EpollLoop? Current => t_current;

    /// <summary>Registers <paramref name="fd"/> for read and write readiness, edge-triggered.</summary>
    public void Add(int fd, IReadinessHandler handler)
    {
        lock (_gate)
        {
            // Not once Dispose has begun either: the thread may be past its last epoll_wait, and a
            // descriptor added now would never have an event (its operations would wait for their
            // timeouts).
            ObjectDisposedException.ThrowIf(_closed || _disposed, this);
            if (fd >= _handlers.Length)
            {
                var grown = new IReadinessHandler?[Math.Max(fd + 1, _handlers.Length * 2)];
                Array.Copy(_handlers, grown, _handlers.Length);
                Volatile.Write(ref _handlers, grown);
            }

            Volatile.Write(ref _handlers[fd], handler);
            if (Control(Libc.CtlAdd, fd, Libc.EpollIn | Libc.EpollOut | Libc.EpollRdHup | Libc.EpollEt) is var error and not 0)
            {
                _handlers[fd] = null;
                throw Errno.ToSocketException(error);
            }
        }
    }

    /// <summary>Stops events for <paramref name="fd"/> (before it is closed, so that its number can be reused).</summary>
    public void Remove(int fd, IReadinessHandler handler)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _ = Control(Libc.CtlDel, fd, 0);
            if (fd < _handlers.Length && ReferenceEquals(_handlers[fd], handler))
            {
                _handlers[fd] = null;
            }
        }
    }

    public unsafe void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        ulong one = 1;
        _ = Libc.Write(_wake, (byte*)&one, sizeof(ulong));
    }

    /// <summary>epoll_ctl; returns 0 or the errno.</summary>
    private unsafe int Control(int operation, int fd, uint events)
    {
        var e = stackalloc byte[16];
        *(uint*)e = events;
        *(ulong*)(e + DataOffset) = (ulong)fd;
        return Libc.EpollCtl(_epoll, operation, fd, e) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private unsafe void Run()
    {
        t_current = this;
        const int MaxEvents = 256;
        var events = stackalloc byte[MaxEvents * 16];
        while (!_disposed)
        {
            var count = Libc.EpollWait(_epoll, events, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.ErrInterrupted)
                {
                    continue;
                }

                break;
            }

            for (var i = 0; i < count; i++)
            {
                var e = events + (i * EventSize);
                var fd = (int)*(ulong*)(e + DataOffset);
                // Read afresh for each event: a handler earlier in the batch may have grown the
                // table or closed and reused a descriptor, and a stale entry would send this
                // event to a connection that is gone (an edge lost for good).
                var handlers = Volatile.Read(ref _handlers);
                var handler = fd < handlers.Length ? Volatile.Read(ref handlers[fd]) : null;
                if (handler is null)
                {
                    continue;
                }

                try
                {
                    handler.OnReady(*(uint*)e);
                }
                catch (Exception ex)
                {
                    // A handler's failure is its connection's, never the loop's.
                    LogHandlerFailed(_logger, ex);
                }
            }
        }

        lock (_gate)
        {
            _closed = true;
            _ = Libc.Close(_epoll);
            _ = Libc.Close(_wake);
        }
    }

    [LoggerMessage(EventId = 97, Level = LogLevel.Error, Message = "A connection's I/O handler failed on the epoll loop.")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);
}
