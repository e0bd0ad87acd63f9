using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.Router.Io;

/// <summary>
/// The router's epoll loops with <c>Router:IoEngine=Epoll</c>: one per core. A client connection
/// is given to the loops in turn; a backend connection to the loop of the thread that opens it
/// (the request's own loop), so that a request's client and backend events run on one thread.
/// </summary>
internal sealed partial class EpollLoops : IDisposable
{
    private readonly EpollLoop[] _loops;
    private uint _next;

    public EpollLoops(ILogger<EpollLoops> logger)
    {
        _loops = new EpollLoop[Math.Max(1, Environment.ProcessorCount)];
        for (var i = 0; i < _loops.Length; i++)
        {
            _loops[i] = new EpollLoop(i, logger);
        }

        LogStarted(logger, _loops.Length);
    }

    /// <summary>The next loop in turn.</summary>
    public EpollLoop Next() => _loops[(int)(Interlocked.Increment(ref _next) % (uint)_loops.Length)];

    /// <summary>The caller's loop when it runs on one of these, else the next in turn.</summary>
    public EpollLoop CurrentOrNext() => EpollLoop.Current is { } current && Array.IndexOf(_loops, current) >= 0 ? current : Next();

    [LoggerMessage(EventId = 98, Level = LogLevel.Information, Message = "I/O engine: epoll, {Count} loop threads (Router:IoEngine=Epoll)")]
    private static partial void LogStarted(ILogger logger, int count);

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            loop.Dispose();
        }
    }
}
