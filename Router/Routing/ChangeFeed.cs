namespace Hipache.Aspire.Router.Routing;

/// <summary>How the router learns of route changes, and so how long a cached route may live.</summary>
internal enum ChangeFeedMode
{
    /// <summary>Not known (yet) that every change reaches the router: entries live Router:RouteCacheTtl.</summary>
    Poll,

    /// <summary>A probe write came back as a keyspace notification on the live subscription: entries live Router:RouteCachePushTtl.</summary>
    Push,
}

/// <summary>
/// What the router knows about its change feed. Push holds from the moment a probe was sent that
/// came back; it ends at the first missed probe or dropped subscription connection. An entry read
/// before push began (or before the latest loss) cannot count on having heard of every change
/// since, so it keeps the short lifetime (see <see cref="RouteCache"/>).
/// </summary>
internal sealed class ChangeFeed
{
    private readonly object _gate = new();
    private long _pushSince = long.MaxValue;
    private long _lastPushSince = long.MaxValue;
    private long _lastPushLostAt = long.MinValue;
    private ChangeFeedMode _mode = ChangeFeedMode.Poll;
    private string _reason = "no probe has come back yet";
    private long _changedAt = Environment.TickCount64;
    private bool _decided;

    /// <summary>Environment.TickCount64 since which push has held without a break; long.MaxValue in poll mode.</summary>
    public long PushSince => Volatile.Read(ref _pushSince);

    /// <summary>Start of the last push period that ended (long.MaxValue: none yet).</summary>
    public long LastPushSince => Volatile.Read(ref _lastPushSince);

    /// <summary>
    /// When the last push period ended. An entry read in it is trusted for Router:RouteCacheTtl
    /// from here (as if read at the loss), not from its read: the same bound as poll mode for
    /// anything that period may have missed, without every entry expiring at once.
    /// </summary>
    public long LastPushLostAt => Volatile.Read(ref _lastPushLostAt);

    public ChangeFeedMode Mode
    {
        get
        {
            lock (_gate)
            {
                return _mode;
            }
        }
    }

    public (ChangeFeedMode Mode, string Reason, long ChangedAt) Describe()
    {
        lock (_gate)
        {
            return (_mode, _reason, _changedAt);
        }
    }

    /// <summary>A probe sent at <paramref name="probeSentAt"/> came back. Returns true when this starts push mode.</summary>
    public bool Confirm(long probeSentAt)
    {
        lock (_gate)
        {
            if (_mode == ChangeFeedMode.Push)
            {
                return false;
            }

            _mode = ChangeFeedMode.Push;
            _decided = true;
            _reason = "a probe write came back as a keyspace notification";
            _changedAt = Environment.TickCount64;
            Volatile.Write(ref _pushSince, probeSentAt);
            return true;
        }
    }

    /// <summary>The feed may have lost a change. Returns true when this ends push mode or is the first verdict.</summary>
    public bool Lose(string reason)
    {
        lock (_gate)
        {
            if (_mode == ChangeFeedMode.Push)
            {
                // Readers may see these before _pushSince changes: an entry then looks like poll mode for a moment (shorter, never longer).
                Volatile.Write(ref _lastPushLostAt, Environment.TickCount64);
                Volatile.Write(ref _lastPushSince, _pushSince);
            }

            Volatile.Write(ref _pushSince, long.MaxValue);
            var news = _mode == ChangeFeedMode.Push || !_decided;
            if (news)
            {
                _changedAt = Environment.TickCount64;
            }

            _mode = ChangeFeedMode.Poll;
            _decided = true;
            _reason = reason;
            return news;
        }
    }
}
