using System.Globalization;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// One backend URL as Hipache uses it (hipache-compat 2.3): only host and port count, plain
/// HTTP/1.1, port 80 when absent, scheme and path ignored (Q15). A scheme-less <c>host:port</c> is
/// read as <c>http://host:port</c> (Q16). One extension of this project: <c>h2c://host:port</c> is
/// the same address spoken to in HTTP/2 with prior knowledge (gRPC backends); Hipache and older
/// routers ignore the scheme and reach it as <c>http://host:port</c>.
/// </summary>
internal sealed class BackendAddress
{
    /// <summary>The scheme of an HTTP/2 (prior knowledge) backend: this project's extension to Hipache's URLs.</summary>
    public const string Http2Scheme = "h2c";

    private BackendAddress(string url, string? destinationPrefix, string href, bool ignoredParts, bool http2 = false)
    {
        Url = url;
        DestinationPrefix = destinationPrefix;
        Href = href;
        HasIgnoredParts = ignoredParts;
        IsHttp2 = http2;
    }

    /// <summary>The list element as stored.</summary>
    public string Url { get; }

    /// <summary><c>http://host:port</c>, or null when the URL has no host (502 "backend is invalid").</summary>
    public string? DestinationPrefix { get; }

    /// <summary>Node's normalised form, as Hipache reports it in <c>dead</c> messages and debug headers.</summary>
    public string Href { get; }

    /// <summary>The URL has a scheme other than http or h2c, a path, a query or user info that the router ignores.</summary>
    public bool HasIgnoredParts { get; }

    /// <summary>
    /// <c>h2c://</c>: HTTP/2 with prior knowledge (no TLS, no upgrade) to this backend, always on
    /// the YARP path (the native one speaks HTTP/1.1 only). <see cref="DestinationPrefix"/> stays
    /// <c>http://</c>: SocketsHttpHandler speaks h2c to an http:// URI when asked for exactly 2.0.
    /// </summary>
    public bool IsHttp2 { get; }

    public bool IsValid => DestinationPrefix is not null;

    /// <summary>
    /// Requests of this router now at this backend, for the least-requests policy. One count per
    /// URL whatever the frontend, because the parsed address is shared (<see cref="BackendAddressPool"/>).
    /// </summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    private int _inFlight;
    private long _liveSince = Environment.TickCount64;
    private long _deadSeenAt;

    /// <summary>
    /// When this router last saw the backend come back (a route read with it live after one with
    /// it dead), or first saw it at all: where a frontend's slow start ramps from.
    /// </summary>
    public long LiveSince => Volatile.Read(ref _liveSince);

    /// <summary>A route read with this backend marked dead.</summary>
    public void SeenDead(long now) => Volatile.Write(ref _deadSeenAt, now);

    /// <summary>A route read with this backend live: it recovered now if it was last seen dead.</summary>
    public void SeenLive(long now)
    {
        if (Volatile.Read(ref _deadSeenAt) != 0 && Interlocked.Exchange(ref _deadSeenAt, 0) != 0)
        {
            Volatile.Write(ref _liveSince, now);
        }
    }

    public void Started() => Interlocked.Increment(ref _inFlight);

    public void Finished() => Interlocked.Decrement(ref _inFlight);

    public static BackendAddress Parse(string url)
    {
        var text = url.Trim();
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        string scheme;
        string rest;
        if (schemeEnd > 0 && IsScheme(text.AsSpan(0, schemeEnd)))
        {
            scheme = text[..schemeEnd].ToLowerInvariant();
            rest = text[(schemeEnd + 3)..];
        }
        else
        {
            scheme = "http";
            rest = text;
        }

        var pathStart = rest.IndexOfAny(['/', '?', '#']);
        var authority = pathStart < 0 ? rest : rest[..pathStart];
        var path = pathStart < 0 ? string.Empty : rest[pathStart..];
        var http2 = scheme == Http2Scheme;
        var ignored = (scheme != "http" && !http2) || (path.Length > 0 && path != "/");
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            authority = authority[(at + 1)..];
            ignored = true;
        }

        string host;
        var port = 80;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            if (close < 0)
            {
                return Invalid(url);
            }

            host = authority[..(close + 1)];
            if (close + 1 < authority.Length)
            {
                if (authority[close + 1] != ':')
                {
                    return Invalid(url);
                }

                portText = authority[(close + 2)..];
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon < 0 ? authority : authority[..colon];
            portText = colon < 0 ? null : authority[(colon + 1)..];
        }

        if (!string.IsNullOrEmpty(portText) && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            return Invalid(url);
        }

        host = host.ToLowerInvariant();
        if (host.Length == 0)
        {
            return Invalid(url);
        }

        var hostAndPort = port == 80 && string.IsNullOrEmpty(portText) ? host : string.Create(CultureInfo.InvariantCulture, $"{host}:{port}");
        var href = string.Create(CultureInfo.InvariantCulture, $"{scheme}://{(string.IsNullOrEmpty(portText) ? host : $"{host}:{portText}")}{(path.Length == 0 ? "/" : path)}");
        return new BackendAddress(url, string.Create(CultureInfo.InvariantCulture, $"http://{host}:{port}"), href, ignored, http2) { HostAndPort = hostAndPort };
    }

    /// <summary><c>host[:port]</c> for logs.</summary>
    public string HostAndPort { get; private init; } = string.Empty;

    private static BackendAddress Invalid(string url) => new(url, null, url, false);

    private static bool IsScheme(ReadOnlySpan<char> candidate)
    {
        if (candidate.IsEmpty || !char.IsAsciiLetter(candidate[0]))
        {
            return false;
        }

        foreach (var c in candidate)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '+' and not '-' and not '.')
            {
                return false;
            }
        }

        return true;
    }
}
