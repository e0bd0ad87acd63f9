namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// Highest-random-weight hashing for the hash policy: a value goes to the live backend whose
/// score for it is highest, so that a backend's departure moves only its own values, and every
/// router (and every restart) agrees, since nothing here is seeded per process (string hash codes
/// are).
/// </summary>
internal static class RendezvousHash
{
    /// <summary>FNV-1a over the UTF-16 code units, finished with a 64-bit mixer.</summary>
    public static ulong Of(ReadOnlySpan<char> text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return Mix(hash);
    }

    public static ulong Score(ulong value, ulong seed) => Mix(value ^ (seed * 0x9E3779B97F4A7C15UL));

    // splitmix64's finalizer: every input bit reaches every output bit.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
