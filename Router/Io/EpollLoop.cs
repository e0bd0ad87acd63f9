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
    private readonly Lock _gate = new();
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private IReadinessHandler?[] _handlers = new IReadinessHandler?[1024];
    private volatile bool _disposed;

    public EpollLoop(int index, ILogger logger)
    {
        _logger = logger;
        _epoll = Libc.EpollCreate1(Libc.SockCloexec);
        if (_epoll < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"epoll loop {index}" };
        _thread.UnsafeStart();
    }

    /// <summary>The loop whose thread is running the caller, if any.</summary>
    public static EpollLoop? Current => t_current;

    /// <summary>Registers <paramref name="fd"/> for read and write readiness, edge-triggered.</summary>
    public unsafe void Add(int fd, IReadinessHandler handler)
    {
        lock (_gate)
        {
            if (fd >= _handlers.Length)
            {
                var grown = new IReadinessHandler?[Math.Max(fd + 1, _handlers.Length * 2)];
                Array.Copy(_handlers, grown, _handlers.Length);
                Volatile.Write(ref _handlers, grown);
            }

            Volatile.Write(ref _handlers[fd], handler);
        }

        var e = stackalloc byte[16];
        *(uint*)e = Libc.EpollIn | Libc.EpollOut | Libc.EpollRdHup | Libc.EpollEt;
        *(ulong*)(e + DataOffset) = (ulong)fd;
        if (Libc.EpollCtl(_epoll, Libc.CtlAdd, fd, e) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Forget(fd, handler);
            throw Errno.ToSocketException(error);
        }
    }

    /// <summary>Stops events for <paramref name="fd"/> (before it is closed, so that its number can be reused).</summary>
    public unsafe void Remove(int fd, IReadinessHandler handler)
    {
        var e = stackalloc byte[16];
        _ = Libc.EpollCtl(_epoll, Libc.CtlDel, fd, e);
        Forget(fd, handler);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // Wakes the thread (epoll_wait fails on the closed descriptor) and ends it.
        _ = Libc.Close(_epoll);
    }

    private void Forget(int fd, IReadinessHandler handler)
    {
        lock (_gate)
        {
            if (fd < _handlers.Length && ReferenceEquals(_handlers[fd], handler))
            {
                _handlers[fd] = null;
            }
        }
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

                return;
            }

            var handlers = Volatile.Read(ref _handlers);
            for (var i = 0; i < count; i++)
            {
                var e = events + (i * EventSize);
                var fd = (int)*(ulong*)(e + DataOffset);
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
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "A connection's I/O handler failed on the epoll loop.")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception);
}
