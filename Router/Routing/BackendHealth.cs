using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Passive health: which backend responses count as failures, when a run of them ejects a
/// backend and for how long (Q1-Q3). Hipache mode does what Hipache did: 501, 502 and 504-599,
/// the first one ejects, for <see cref="RouterOptions.DeadBackendTtl"/>. Safe mode: 502 and
/// 504-599, <see cref="RouterOptions.EjectAfter"/> (3) in a row within
/// <see cref="RouterOptions.FailureWindow"/>; each ejection of a backend soon after its previous
/// one lasts twice as long, up to <see cref="RouterOptions.MaxEjectionTime"/>; and no more than
/// <see cref="RouterOptions.MaxEjectedPercent"/> of a frontend's backends (at least one, never
/// all) are ejected at once. A 503 with Retry-After never counts. State is per backend URL and
/// per router; the ejection itself is the shared dead mark.
/// </summary>
internal sealed class BackendHealth
{
    private readonly ConcurrentDictionary<string, FailureRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Ejections> _ejections = new(StringComparer.Ordinal);
    private readonly bool _hipache;
    private readonly int _threshold;
    private readonly StatusSet _failures;
    private readonly long _windowMs;
    private readonly TimeSpan _baseEjection;
    private readonly TimeSpan _maxEjection;
    private readonly int _maxEjectedPercent;

    public BackendHealth(IOptions<RouterOptions> options)
    {
        var o = options.Value;
        _hipache = o.Compatibility == CompatibilityMode.Hipache;
        _threshold = o.EjectAfter ?? (_hipache ? 1 : 3);
        _windowMs = (long)o.FailureWindow.TotalMilliseconds;
        _baseEjection = o.DeadBackendTtl;
        _maxEjection = o.MaxEjectionTime;
        _maxEjectedPercent = o.MaxEjectedPercent;
        // Validated at start (RouterOptionsValidator); the defaults are well-formed.
        if (!StatusSet.TryParse(o.FailureStatuses ?? (_hipache ? "501,502,504-599" : "502,504-599"), out _failures, out var error))
        {
            throw new InvalidOperationException(error);
        }
    }

    /// <summary>Q2: a 503 announcing when to come back is maintenance, not failure.</summary>
    public bool IsFailure(int status, bool hasRetryAfter) => _failures.Contains(status) && !(status == 503 && hasRetryAfter);

    /// <summary>Records a response of <paramref name="route"/>'s backend; returns true when it should now be marked dead.</summary>
    public bool RecordStatus(string href, bool failed, RouteEntry route)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (!failed)
        {
            if (_runs.ContainsKey(href))
            {
                _runs.TryRemove(href, out _);
            }

            return false;
        }

        var now = Environment.TickCount64;
        var run = _runs.AddOrUpdate(
            href,
            static (_, now) => new FailureRun(1, now),
            (_, previous, now) => !_hipache && now - previous.StartedAt > _windowMs ? new FailureRun(1, now) : previous with { Count = previous.Count + 1 },
            now);
        if (run.Count < _threshold || !MayEject(route))
        {
            return false;
        }

        _runs.TryRemove(href, out _);
        return true;
    }

    /// <summary>Safe mode: whether one more of <paramref name="route"/>'s backends may be marked dead (Hipache mode: always).</summary>
    public bool MayEject(RouteEntry route)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (_hipache)
        {
            return true;
        }

        var count = route.Backends.Length;
        var deadAfter = count - route.LiveCount + 1;
        var allowed = Math.Max(1, count * _maxEjectedPercent / 100);
        return deadAfter < count && deadAfter <= allowed;
    }

    /// <summary>How long this ejection of <paramref name="href"/> lasts: doubled for each one within <see cref="RouterOptions.MaxEjectionTime"/> of the previous (Safe mode).</summary>
    public TimeSpan NextEjection(string href)
    {
        if (_hipache)
        {
            return _baseEjection;
        }

        var now = Environment.TickCount64;
        var maxMs = (long)_maxEjection.TotalMilliseconds;
        var ejections = _ejections.AddOrUpdate(
            href,
            static (_, state) => new Ejections(1, state.Now),
            static (_, previous, state) => state.Now - previous.LastAt > state.MaxMs ? new Ejections(1, state.Now) : new Ejections(previous.Count + 1, state.Now),
            (Now: now, MaxMs: maxMs));
        if (_ejections.Count > 100_000)
        {
            // Backends long gone: forget the oldest half of the history rather than grow.
            foreach (var old in _ejections.Where(e => now - e.Value.LastAt > maxMs).Select(e => e.Key).ToArray())
            {
                _ejections.TryRemove(old, out _);
            }
        }

        var factor = Math.Pow(2, Math.Min(ejections.Count - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(_baseEjection.Ticks * factor, _maxEjection.Ticks));
    }

    private readonly record struct FailureRun(int Count, long StartedAt);

    private readonly record struct Ejections(int Count, long LastAt);
}
