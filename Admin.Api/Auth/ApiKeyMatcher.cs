using System.Security.Cryptography;
using System.Text;

namespace Hipache.Aspire.Admin.Auth;

/// <summary>Which configured admin key a presented one is, compared in constant time over every key.</summary>
internal static class ApiKeyMatcher
{
    /// <summary>The index of the matching key in <paramref name="keys"/>, or -1.</summary>
    public static int Match(string presented, IList<string> keys)
    {
        var bytes = Encoding.UTF8.GetBytes(presented);
        var matched = -1;
        for (var i = 0; i < keys.Count; i++)
        {
            // Every key is compared, so the time taken does not tell which one nearly matched.
            if (CryptographicOperations.FixedTimeEquals(bytes, Encoding.UTF8.GetBytes(keys[i])) && matched < 0)
            {
                matched = i;
            }
        }

        return matched;
    }

    /// <summary>A key's fingerprint (SHA-256, hex): what a console session remembers instead of the key.</summary>
    public static string Fingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
