namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>
/// Names certificates are stored under, and the order a router looks for one (the SNI
/// rule): the exact host, then the wildcard one label up (<c>*.example.com</c> covers
/// <c>a.example.com</c>, not <c>a.b.example.com</c> nor <c>example.com</c>, as RFC 6125 says), then
/// <see cref="Default"/>.
/// </summary>
public static class CertificateNames
{
    /// <summary>The certificate for any name nothing else covers, and for clients that send no SNI. Not a hostname (an underscore).</summary>
    public const string Default = "_default";

    private const string ChangeMarker = "\u0001cert:";

    /// <summary>The names to look up for a client's SNI name (lower case, no trailing dot), best first.</summary>
    public static string[] Candidates(string? serverName)
    {
        if (string.IsNullOrEmpty(serverName))
        {
            return [Default];
        }

        var dot = serverName.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && dot < serverName.Length - 1 && serverName.IndexOf('.', dot + 1) > 0
            ? [serverName, string.Concat("*", serverName.AsSpan(dot)), Default]
            : [serverName, Default];
    }

    /// <summary>Whether a stored <paramref name="name"/> (host, wildcard or default) could be a candidate for <paramref name="serverName"/>.</summary>
    public static bool Covers(string name, string serverName) =>
        name == Default || name == serverName || Array.IndexOf(Candidates(serverName), name) >= 0;

    /// <summary>
    /// The message published on the change channel after a certificate changed. Like a fence, it
    /// cannot be a frontend key, so a router that does not know certificates drops nothing real.
    /// </summary>
    public static string ChangeMessage(string name) => ChangeMarker + name;

    public static bool TryReadChange(string message, out string name)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.StartsWith(ChangeMarker, StringComparison.Ordinal) && message.Length > ChangeMarker.Length)
        {
            name = message[ChangeMarker.Length..];
            return true;
        }

        name = string.Empty;
        return false;
    }
}
