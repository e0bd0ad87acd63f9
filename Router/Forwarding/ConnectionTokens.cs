using System.Net.Http.Headers;
using Microsoft.Extensions.Primitives;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Headers named in <c>Connection</c> are hop-by-hop too (RFC 9110 7.6.1): they must not cross
/// the proxy in either direction (Q17). YARP strips the fixed hop-by-hop set; this removes the
/// ones a peer declares. The common values (keep-alive, close, upgrade) name nothing to remove,
/// so the usual request costs a scan and no allocation.
/// </summary>
internal static class ConnectionTokens
{
    public static void RemoveNamedHeaders(StringValues connection, HttpHeaders target)
    {
        foreach (var value in connection)
        {
            foreach (var token in Tokens(value))
            {
                target.Remove(token);
            }
        }
    }

    public static void RemoveNamedHeaders(IEnumerable<string> connection, IHeaderDictionary target)
    {
        foreach (var value in connection)
        {
            foreach (var token in Tokens(value))
            {
                target.Remove(token);
            }
        }
    }

    /// <summary>True when <paramref name="connection"/> names a header beyond keep-alive, close and upgrade.</summary>
    public static bool NamesAny(StringValues connection)
    {
        // Every request with a Connection header asks this: a span scan, no iterator.
        foreach (var value in connection)
        {
            var rest = value.AsSpan();
            while (!rest.IsEmpty)
            {
                var comma = rest.IndexOf(',');
                if (NamesHeader(comma < 0 ? rest : rest[..comma]))
                {
                    return true;
                }

                rest = comma < 0 ? default : rest[(comma + 1)..];
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="name"/> is one of the headers <paramref name="connection"/> names.</summary>
    public static bool Names(StringValues connection, string name)
    {
        foreach (var value in connection)
        {
            foreach (var token in Tokens(value))
            {
                if (string.Equals(token, name, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static IEnumerable<string> Tokens(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            yield break;
        }

        var start = 0;
        while (start < value.Length)
        {
            var comma = value.IndexOf(',', start);
            var end = comma < 0 ? value.Length : comma;
            var token = value.AsSpan(start, end - start);
            if (NamesHeader(token))
            {
                yield return token.Trim().ToString();
            }

            start = end + 1;
        }
    }

    /// <summary>A token other than keep-alive, close and upgrade names a header.</summary>
    private static bool NamesHeader(ReadOnlySpan<char> token)
    {
        token = token.Trim();
        return !token.IsEmpty
            && !token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
            && !token.Equals("close", StringComparison.OrdinalIgnoreCase)
            && !token.Equals("upgrade", StringComparison.OrdinalIgnoreCase);
    }
}
