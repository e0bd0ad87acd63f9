using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Which backend responses count as failures and how many in a row eject a backend (Q1-Q3).
/// Safe: 502 and 504-599, three consecutive, never the last live backend. Hipache: 501, 502 and
/// 504-599, the first one ejects. Both configurable (<see cref="RouterOptions.FailureStatuses"/>,
/// <see cref="RouterOptions.EjectAfter"/>); a 503 with Retry-After never counts.
/// </summary>
internal sealed class BackendHealth
{
    private readonly ConcurrentDictionary<string, int> _consecutiveFailures = new(StringComparer.Ordinal);
    private readonly bool _hipache;
    private readonly int _threshold;
    private readonly StatusSet _failures;

    public BackendHealth(IOptions<RouterOptions> options)
    {
        var o = options.Value;
        _hipache = o.Compatibility == CompatibilityMode.Hipache;
        _threshold = o.EjectAfter ?? (_hipache ? 1 : 3);
        // Validated at start (RouterOptionsValidator); the defaults are well-formed.
        if (!StatusSet.TryParse(o.FailureStatuses ?? (_hipache ? "501,502,504-599" : "502,504-599"), out _failures, out var error))
        {
            throw new InvalidOperationException(error);
        }
    }

    /// <summary>Q2: a 503 announcing when to come back is maintenance, not failure.</summary>
    public bool IsFailure(int status, bool hasRetryAfter) => _failures.Contains(status) && !(status == 503 && hasRetryAfter);

    /// <summary>Records a response; returns true when the backend should now be marked dead.</summary>
    public bool RecordStatus(string href, bool failed, int liveBackends)
    {
        if (!failed)
        {
            if (_consecutiveFailures.ContainsKey(href))
            {
                _consecutiveFailures.TryRemove(href, out _);
            }

            return false;
        }

        var failures = _consecutiveFailures.AddOrUpdate(href, 1, static (_, n) => n + 1);
        if (failures < _threshold || (!_hipache && liveBackends <= 1))
        {
            return false;
        }

        _consecutiveFailures.TryRemove(href, out _);
        return true;
    }
}
