namespace Hipache.Aspire.RouteStore;

/// <summary>
/// Hipache's lookup order (hipache-compat 3.2): the host itself, then <c>*.</c> plus its last
/// k labels for k from min(n-1, 5) down to 1, then <c>*</c>.
/// </summary>
public static class CandidateKeys
{
    /// <summary>Wildcard suffixes longer than this many labels never match (Hipache's limit).</summary>
    public const int MaxWildcardLabels = 5;

    /// <summary>At most: the host, five wildcards and the catch-all.</summary>
    public const int MaxCandidates = MaxWildcardLabels + 2;

    public const string CatchAll = "*";

    /// <summary>Writes the candidates of <paramref name="host"/> into <paramref name="destination"/>, returns how many.</summary>
    public static int Fill(string host, Span<string> destination)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (destination.Length < MaxCandidates)
        {
            throw new ArgumentException($"Needs room for {MaxCandidates} candidates.", nameof(destination));
        }

        var count = 0;
        destination[count++] = host;

        // Positions just after each '.', from the right: suffix k starts after the k-th dot from the end.
        Span<int> suffixStarts = stackalloc int[MaxWildcardLabels];
        var found = 0;
        for (var i = host.Length - 1; i >= 0 && found < MaxWildcardLabels; i--)
        {
            if (host[i] == '.')
            {
                suffixStarts[found++] = i + 1;
            }
        }

        // found == number of dots considered == min(n-1, 5); longest suffix first.
        for (var k = found - 1; k >= 0; k--)
        {
            destination[count++] = string.Concat("*.", host.AsSpan(suffixStarts[k]));
        }

        if (host != CatchAll)
        {
            destination[count++] = CatchAll;
        }

        return count;
    }

    public static string[] For(string host)
    {
        var buffer = new string[MaxCandidates];
        var count = Fill(host, buffer);
        return buffer[..count];
    }
}
