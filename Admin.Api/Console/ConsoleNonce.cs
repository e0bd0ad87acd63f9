using System.Security.Cryptography;

namespace Hipache.Aspire.Admin.Console;

/// <summary>
/// A fresh nonce per console page, for its one inline stylesheet: the page's Content-Security-Policy
/// (SecurityHeadersMiddleware) allows that style and nothing else inline, and no script at all.
/// </summary>
internal static class ConsoleNonce
{
    private const string ItemKey = "hipache:console-nonce";

    public static string Of(HttpContext context)
    {
        if (context.Items.TryGetValue(ItemKey, out var existing) && existing is string nonce)
        {
            return nonce;
        }

        nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        context.Items[ItemKey] = nonce;
        return nonce;
    }

    public static string? Peek(HttpContext context) => context.Items.TryGetValue(ItemKey, out var value) ? value as string : null;
}
