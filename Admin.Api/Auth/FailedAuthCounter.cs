using System.Net;

namespace Hipache.Aspire.Admin.Auth;

/// <summary>
/// Counts the requests refused with 401 since the last report, and from how many client
/// addresses, so that a key-guessing run becomes one warning per interval instead of one line per
/// guess. Nothing about the presented key is kept. The address set is bounded: a run from more
/// addresses than that is reported as "at least" the bound, without growing memory.
/// </summary>
internal sealed class FailedAuthCounter(AdminMetrics metrics)
{
    internal const int MaxTrackedClients = 10_000;

    private readonly Lock _gate = new();
    private HashSet<IPAddress> _clients = [];
    private long _refused;
    private long _wrongKey;

    /// <param name="presentedKey">True when an Authorization header was sent and was not a valid key (a guess), false when none was sent.</param>
    public void Record(IPAddress? client, bool presentedKey)
    {
        metrics.AuthFailure(presentedKey);
        lock (_gate)
        {
            _refused++;
            if (presentedKey)
            {
                _wrongKey++;
            }

            if (client is not null && _clients.Count < MaxTrackedClients)
            {
                _clients.Add(client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client);
            }
        }
    }

    /// <summary>What was counted since the last call, and starts again from zero.</summary>
    public FailedAuthWindow Take()
    {
        lock (_gate)
        {
            var window = new FailedAuthWindow(_refused, _wrongKey, _clients.Count, _clients.Count >= MaxTrackedClients);
            _refused = 0;
            _wrongKey = 0;
            _clients = [];
            return window;
        }
    }
}

/// <param name="Refused">Requests answered 401.</param>
/// <param name="WrongKey">Of those, the ones that sent a key that is not valid.</param>
/// <param name="Clients">Distinct client addresses (at least this many when <paramref name="ClientsCapped"/>).</param>
internal readonly record struct FailedAuthWindow(long Refused, long WrongKey, int Clients, bool ClientsCapped);
