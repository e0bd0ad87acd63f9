using System.Collections.Concurrent;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// <see cref="RouterOptions.MaxConcurrentRequestsPerFrontend"/>: requests in flight per frontend
/// key on this router. A counter exists only while its frontend has requests in flight, so a
/// million frontends cost nothing at rest; a counter that drops to zero is retired (-1) before it
/// is removed, so that a request can never count itself on a counter nobody reads any more.
/// </summary>
internal sealed class FrontendConcurrencyLimiter
{
    private const int Retired = -1;

    private readonly ConcurrentDictionary<string, Counter> _inFlight = new(StringComparer.Ordinal);
    private readonly int _limit;

    public FrontendConcurrencyLimiter(IOptions<RouterOptions> options) => _limit = options.Value.MaxConcurrentRequestsPerFrontend;

    public bool IsEnabled => _limit > 0;

    /// <summary>Frontends with requests in flight (for tests and gauges).</summary>
    public int TrackedFrontends => _inFlight.Count;

    /// <summary>Counts a request in; false when the frontend is at its limit (nothing was counted).</summary>
    public bool TryEnter(string frontendKey)
    {
        while (true)
        {
            var counter = _inFlight.GetOrAdd(frontendKey, static _ => new Counter());
            var current = Volatile.Read(ref counter.Value);
            if (current == Retired)
            {
                // Lost a race with the last request leaving: that counter is gone, take a new one.
                continue;
            }

            if (current >= _limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter.Value, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Counts a request out; only after a successful <see cref="TryEnter"/>.</summary>
    public void Exit(string frontendKey)
    {
        if (!_inFlight.TryGetValue(frontendKey, out var counter))
        {
            return;
        }

        if (Interlocked.Decrement(ref counter.Value) == 0 && Interlocked.CompareExchange(ref counter.Value, Retired, 0) == 0)
        {
            _inFlight.TryRemove(new KeyValuePair<string, Counter>(frontendKey, counter));
        }
    }

    private sealed class Counter
    {
        public int Value;
    }
}
