using System.Collections.Concurrent;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// One parsed <see cref="BackendAddress"/> per backend URL and one string per identifier, shared
/// by every cached route that names it: a PaaS points many hostnames at the same backends, and
/// the parsed form (four strings) was most of a cached route's memory. Bounded: when full, new
/// URLs are parsed unshared (correct, only larger) until <see cref="Trim"/> makes room.
/// </summary>
internal sealed class BackendAddressPool
{
    private readonly ConcurrentDictionary<string, BackendAddress> _addresses = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _identifiers = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private int _addressCount;
    private int _identifierCount;

    public BackendAddressPool(int capacity) => _capacity = capacity;

    public BackendAddress Get(string url)
    {
        if (_addresses.TryGetValue(url, out var known))
        {
            return known;
        }

        var parsed = BackendAddress.Parse(url);
        if (Volatile.Read(ref _addressCount) < _capacity && _addresses.TryAdd(url, parsed))
        {
            Interlocked.Increment(ref _addressCount);
        }

        return parsed;
    }

    public string Intern(string identifier)
    {
        if (_identifiers.TryGetValue(identifier, out var known))
        {
            return known;
        }

        if (Volatile.Read(ref _identifierCount) < _capacity && _identifiers.TryAdd(identifier, identifier))
        {
            Interlocked.Increment(ref _identifierCount);
        }

        return identifier;
    }

    /// <summary>Starts over when full (called by the cache's eviction, off the request path): entries keep their references.</summary>
    public void Trim()
    {
        if (Volatile.Read(ref _addressCount) >= _capacity)
        {
            _addresses.Clear();
            Volatile.Write(ref _addressCount, 0);
        }

        if (Volatile.Read(ref _identifierCount) >= _capacity)
        {
            _identifiers.Clear();
            Volatile.Write(ref _identifierCount, 0);
        }
    }
}
