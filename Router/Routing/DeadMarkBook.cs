using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Which backend URL each dead mark was about (Q13). Hipache's dead sets hold positions, so a
/// list edited after a mark shifts what the positions mean: a healthy backend gets excluded and
/// the dead one readmitted. Every mark this router makes and every <c>dead</c> message (from any
/// router or checker) records its URL here; a dead index that now points at another URL is then
/// read as a hint and moved to where that URL is now. A frontend's records live as long as its
/// dead set does: Safe mode's ejections grow to <c>MaxEjectionTime</c> and every mark extends the
/// whole set, so a record that expired with the base <c>DeadBackendTtl</c> left the set's older
/// positions to be read literally for minutes (a soak under route churn ejected the healthy
/// backends of a frontend that way and sent all its traffic to the one that was down).
/// </summary>
internal sealed class DeadMarkBook
{
    private const int Capacity = 100_000;

    private readonly ConcurrentDictionary<string, FrontendMarks> _frontends = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _messageTtl;

    public DeadMarkBook(IOptions<RouterOptions> options, TimeProvider time)
    {
        var o = options.Value;
        // A message does not say how long its mark lasts: another Safe-mode router may have made
        // it up to MaxEjectionTime. A record that outlives its set is only read again if the same
        // position is marked again without a message (which would replace it).
        _messageTtl = o.MaxEjectionTime > o.DeadBackendTtl ? o.MaxEjectionTime : o.DeadBackendTtl;
        _time = time;
    }

    /// <summary>Records that position <paramref name="index"/> of <paramref name="deadKey"/>'s set was <paramref name="href"/>, for the set's <paramref name="ttl"/>.</summary>
    public void Record(string deadKey, int index, string href, TimeSpan ttl)
    {
        var now = NowMs();
        if (!_frontends.TryGetValue(deadKey, out var marks))
        {
            if (_frontends.Count >= Capacity)
            {
                PurgeExpired(now);
                if (_frontends.Count >= Capacity)
                {
                    return;
                }
            }

            marks = _frontends.GetOrAdd(deadKey, static _ => new FrontendMarks());
        }

        marks.Add(index, href, now, now + (long)ttl.TotalMilliseconds);
    }

    /// <summary>
    /// Applies one dead set to <paramref name="dead"/>: a recorded index whose URL moved marks the
    /// URL's new position instead; an unrecorded index is taken as it is (a checker's mark).
    /// </summary>
    public void Apply(string deadKey, IReadOnlySet<int> indexes, BackendAddress[] backends, bool[] dead)
    {
        _frontends.TryGetValue(deadKey, out var marks);
        var now = NowMs();
        foreach (var index in indexes)
        {
            if (marks?.HrefAt(index, now) is { } href)
            {
                if (index < backends.Length && backends[index].Href == href)
                {
                    dead[index] = true;
                    continue;
                }

                // The list changed since the mark: follow the URL, not the position. When the URL is
                // not in the list at all the record is about something else (the unprefixed 'dead'
                // channel is shared by every deployment on this Redis): keep the position.
                var moved = false;
                for (var i = 0; i < backends.Length; i++)
                {
                    if (backends[i].Href == href)
                    {
                        dead[i] = true;
                        moved = true;
                    }
                }

                if (moved)
                {
                    continue;
                }
            }

            if (index < dead.Length)
            {
                dead[index] = true;
            }
        }
    }

    /// <summary>Parses a Hipache <c>dead</c> message, <c>&lt;key&gt;;&lt;href&gt;;&lt;index&gt;;&lt;count&gt;</c>, and records it.</summary>
    public string? RecordMessage(string message)
    {
        var first = message.IndexOf(';', StringComparison.Ordinal);
        var last = message.LastIndexOf(';');
        var beforeLast = last > 0 ? message.LastIndexOf(';', last - 1) : -1;
        if (first <= 0 || beforeLast <= first)
        {
            return first > 0 ? message[..first] : null;
        }

        var key = message[..first];
        if (int.TryParse(message.AsSpan(beforeLast + 1, last - beforeLast - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
        {
            Record(key, index, message[(first + 1)..beforeLast], _messageTtl);
        }

        return key;
    }

    private long NowMs() => _time.GetTimestamp() * 1000 / _time.TimestampFrequency;

    private void PurgeExpired(long now)
    {
        foreach (var pair in _frontends)
        {
            if (pair.Value.ExpiredAt(now))
            {
                _frontends.TryRemove(pair.Key, out _);
            }
        }
    }

    /// <summary>One frontend's records, which expire together as its dead set does (every mark extends the set).</summary>
    private sealed class FrontendMarks
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<int, string> _hrefs = [];
        private long _expiresAt;

        public void Add(int index, string href, long now, long expiresAt)
        {
            lock (_gate)
            {
                if (_expiresAt <= now)
                {
                    // The set expired: its old positions went with it.
                    _hrefs.Clear();
                }

                _hrefs[index] = href;
                _expiresAt = Math.Max(_expiresAt, expiresAt);
            }
        }

        public string? HrefAt(int index, long now)
        {
            lock (_gate)
            {
                return _expiresAt > now && _hrefs.TryGetValue(index, out var href) ? href : null;
            }
        }

        public bool ExpiredAt(long now)
        {
            lock (_gate)
            {
                return _expiresAt <= now;
            }
        }
    }
}
