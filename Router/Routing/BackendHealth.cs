using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Which backend responses count as failures and how many in a row eject a backend (Q1-Q3).
/// Safe: 502 and 504-599, three consecutive, never the last live backend. Hipache: 501, 502 and
/// 504-599, the first one ejects. 500 and 503 never count (an application error or maintenance
/// says little about the backend's health).
/// </summary>
internal sealed class BackendHealth
{
    private readonly ConcurrentDictionary<string, int> _consecutiveFailures = new(StringComparer.Ordinal);
    private readonly bool _hipache;
    private readonly int _threshold;

    public BackendHealth(IOptions<RouterOptions> options)
    {
        _hipache = options.Value.Compatibility == CompatibilityMode.Hipache;
        _threshold = _hipache ? 1 : 3;
    }

    public bool IsFailureStatus(int status) => status is 502 or (>= 504 and <= 599) || (_hipache && status == 501);

    /// <summary>Records a response; returns true when the backend should now be marked dead.</summary>
    public bool RecordStatus(string href, int status, int liveBackends)
    {
        if (!IsFailureStatus(status))
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
