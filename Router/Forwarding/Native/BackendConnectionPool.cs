using System.Net;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// Keep-alive connections to one backend (Q17): at most <c>MaxSockets</c> in use at once, the
/// requests beyond it waiting their turn; idle ones reused newest first (warm, least likely to
/// have been closed by the backend's own idle timeout) and closed after <see cref="IdleTimeout"/>.
/// </summary>
internal sealed class BackendConnectionPool : IDisposable
{
    /// <summary>As the YARP path's PooledConnectionIdleTimeout.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    private readonly EndPoint _endPoint;
    private readonly Io.EpollLoops? _loops;
    private readonly SemaphoreSlim _slots;
    private readonly int _maxSockets;
    private readonly Stack<BackendConnection> _idle = new();
    private long _lastUsed = Environment.TickCount64;
    private bool _retired;

    public BackendConnectionPool(EndPoint endPoint, int maxSockets, Io.EpollLoops? loops = null)
    {
        _endPoint = endPoint;
        _loops = loops;
        _maxSockets = maxSockets;
        _slots = new SemaphoreSlim(maxSockets, maxSockets);
    }

    /// <summary>
    /// A connection for one exchange: an idle one that still looks alive unless <paramref name="fresh"/>,
    /// else a new one. Waits for a slot while <c>MaxSockets</c> are in use. <paramref name="probe"/>:
    /// ask the socket whether the backend closed it while idle (a poll syscall), for requests that
    /// could not be sent again if it had; the others skip it and rely on the keep-alive race retry.
    /// </summary>
    /// <exception cref="TimeoutException">No slot within <paramref name="slotTimeout"/>.</exception>
    public async ValueTask<BackendConnection> AcquireAsync(bool fresh, bool probe, TimeSpan connectTimeout, TimeSpan slotTimeout, CancellationToken cancellationToken)
    {
        if (!_slots.Wait(0, CancellationToken.None))
        {
            if (!await _slots.WaitAsync(slotTimeout > TimeSpan.Zero ? slotTimeout : Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false))
            {
                throw new TimeoutException($"All {_maxSockets} connections to {_endPoint} stayed busy for {slotTimeout} (Router:MaxSockets).");
            }
        }

        try
        {
            Volatile.Write(ref _lastUsed, Environment.TickCount64);
            if (!fresh)
            {
                while (TryPopIdle(out var idle))
                {
                    if (idle.IsIdleUsable(probe))
                    {
                        return idle;
                    }

                    idle.Dispose();
                }
            }

            try
            {
                return await BackendConnection.ConnectAsync(_endPoint, _loops, connectTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
            {
                throw new BackendConnectException(ex);
            }
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    /// <summary>Gives the slot back; the connection goes back to the pool only when <paramref name="reusable"/>.</summary>
    public void Release(BackendConnection connection, bool reusable)
    {
        var pooled = false;
        if (reusable && connection.TryStartIdleRead())
        {
            connection.Reused = true;
            connection.IdleSince = Environment.TickCount64;
            lock (_idle)
            {
                if (!_retired)
                {
                    // Pushed before the slot is released: a waiter that gets the slot finds it.
                    _idle.Push(connection);
                    pooled = true;
                }
            }
        }

        if (!pooled)
        {
            connection.Dispose();
        }

        _slots.Release();
    }

    /// <summary>Closes idle connections past <see cref="IdleTimeout"/>; true when the pool is unused and empty and is retired.</summary>
    public bool Scavenge(long now)
    {
        var timeout = (long)IdleTimeout.TotalMilliseconds;
        BackendConnection[] expired = [];
        lock (_idle)
        {
            // Newest on top, so the expired ones are the bottom of the stack.
            var all = _idle.ToArray();
            var fresh = Array.FindIndex(all, c => now - c.IdleSince > timeout);
            if (fresh >= 0)
            {
                expired = all[fresh..];
                _idle.Clear();
                for (var i = fresh - 1; i >= 0; i--)
                {
                    _idle.Push(all[i]);
                }
            }

            if (_idle.Count == 0 && _slots.CurrentCount == _maxSockets && now - Volatile.Read(ref _lastUsed) > timeout)
            {
                // A request that took this pool just before it was dropped still works: its
                // connection is closed on release instead of pooled.
                _retired = true;
            }
        }

        foreach (var c in expired)
        {
            c.Dispose();
        }

        return _retired;
    }

    private bool TryPopIdle(out BackendConnection connection)
    {
        lock (_idle)
        {
            return _idle.TryPop(out connection!);
        }
    }

    public void Dispose()
    {
        BackendConnection[] idle;
        lock (_idle)
        {
            _retired = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        foreach (var c in idle)
        {
            c.Dispose();
        }
    }
}
