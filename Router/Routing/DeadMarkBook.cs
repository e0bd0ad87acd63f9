using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Which backend URL each dead mark was about (Q13). Hipache's dead sets hold positions, so a
/// list edited after a mark shifts what the positions mean: a healthy backend gets excluded and
/// the dead one readmitted. Every mark this router makes and every <c>dead</c> message (from any
/// router or checker) records its URL here; a dead index that now points at another URL is then
/// read as a hint and moved to where that URL is now. Entries expire with the dead set's TTL.
/// </summary>
internal sealed class DeadMarkBook
{
    private const int Capacity = 100_000;

    private readonly ConcurrentDictionary<(string Key, int Index), (string Href, long ExpiresAt)> _marks = new();
    private readonly long _ttlMs;

    public DeadMarkBook(IOptions<RouterOptions> options) => _ttlMs = (long)options.Value.DeadBackendTtl.TotalMilliseconds;

    public void Record(string deadKey, int index, string href)
    {
        if (_marks.Count >= Capacity)
        {
            PurgeExpired();
            if (_marks.Count >= Capacity)
            {
                return;
            }
        }

        _marks[(deadKey, index)] = (href, Environment.TickCount64 + _ttlMs);
    }

    /// <summary>
    /// Applies one dead set to <paramref name="dead"/>: a recorded index whose URL moved marks the
    /// URL's new position instead; an unrecorded index is taken as it is (a checker's mark).
    /// </summary>
    public void Apply(string deadKey, IReadOnlySet<int> indexes, BackendAddress[] backends, bool[] dead)
    {
        var now = Environment.TickCount64;
        foreach (var index in indexes)
        {
            if (_marks.TryGetValue((deadKey, index), out var mark) && mark.ExpiresAt > now)
            {
                if (index < backends.Length && backends[index].Href == mark.Href)
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
                    if (backends[i].Href == mark.Href)
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
            Record(key, index, message[(first + 1)..beforeLast]);
        }

        return key;
    }

    private void PurgeExpired()
    {
        var now = Environment.TickCount64;
        foreach (var pair in _marks)
        {
            if (pair.Value.ExpiresAt <= now)
            {
                _marks.TryRemove(pair.Key, out _);
            }
        }
    }
}
