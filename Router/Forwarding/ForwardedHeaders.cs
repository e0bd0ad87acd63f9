using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hipache.Aspire.Router.Configuration;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>How the router's value of one forwarding header combines with the one the client sent.</summary>
internal enum ForwardedHeaderMode
{
    /// <summary>The client's value is dropped and the router's sent (untrusted peers).</summary>
    Replace,

    /// <summary>The client's value is kept; the router's is sent only when the client sent none (Q9).</summary>
    SetIfAbsent,

    /// <summary>The router's value is added after the client's, comma-separated (X-Forwarded-For from trusted proxies).</summary>
    Append,
}

/// <summary>
/// The forwarding headers of hipache-compat 5.3 with Q8/Q9/Q10, decided in one place for both
/// forwarders: X-Forwarded-For / X-Real-IP / X-Forwarded-Proto / -Protocol / -Port computed by
/// the router for untrusted peers, kept (and X-Forwarded-For appended to) for trusted proxies, or,
/// in Hipache mode, set only when absent. No X-Forwarded-Host, Forwarded or Via.
/// </summary>
internal sealed class ForwardedHeaders
{
    /// <summary>The headers, in the order they are written; <see cref="Decision.Value"/> and <see cref="Decision.Mode"/> take these indexes.</summary>
    public static readonly string[] Names = ["X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Port"];

    // Hipache mode: set-only-if-absent headers (Q9), ::ffff: addresses (Q10), fixed ports (Q8).
    private readonly bool _hipache;
    private readonly IPNetwork[] _trustedProxies;
    private volatile PortString? _lastPort;

    public ForwardedHeaders(IOptions<RouterOptions> options)
    {
        var o = options.Value;
        _hipache = o.Compatibility == CompatibilityMode.Hipache;
        _trustedProxies = [.. o.TrustedProxies.Select(ParseNetwork)];
    }

    /// <summary>The index of <paramref name="name"/> in <see cref="Names"/>, or -1.</summary>
    public static int IndexOf(string name)
    {
        // Every name starts with "X-"; most request headers do not, so this is one comparison for them.
        if (name.Length < 9 || (name[0] | 0x20) != 'x' || name[1] != '-')
        {
            return -1;
        }

        for (var i = 0; i < Names.Length; i++)
        {
            if (string.Equals(name, Names[i], StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Whether the client reached us over HTTPS: this connection is TLS, or a trusted proxy in front
    /// (Router:TrustedProxies) terminated TLS and says so in X-Forwarded-Proto.
    /// </summary>
    public bool ClientUsedHttps(HttpContext context)
    {
        if (context.Request.IsHttps)
        {
            return true;
        }

        if (_hipache || !IsTrusted(context.Connection.RemoteIpAddress))
        {
            return false;
        }

        var proto = context.Request.Headers["X-Forwarded-Proto"].ToString();
        var comma = proto.IndexOf(',', StringComparison.Ordinal);
        // The first value is the client's own hop.
        return (comma < 0 ? proto : proto[..comma]).Trim().Equals("https", StringComparison.OrdinalIgnoreCase);
    }

    public Decision Decide(HttpContext context)
    {
        var connection = context.Connection;
        var client = ClientAddress.Format(connection.RemoteIpAddress, _hipache) ?? string.Empty;
        var tls = context.Request.IsHttps;
        var proto = tls ? "https" : "http";
        var port = _hipache ? (tls ? "443" : "80") : PortText(connection.LocalPort);
        var mode = _hipache ? Mode.Hipache : IsTrusted(connection.RemoteIpAddress) ? Mode.Trusted : Mode.Untrusted;
        return new Decision(client, proto, port, mode);
    }

    private string PortText(int port)
    {
        // A router listens on a few ports: the text of the last one is kept, not made per request.
        var last = _lastPort;
        if (last is not null && last.Port == port)
        {
            return last.Text;
        }

        var text = port.ToString(CultureInfo.InvariantCulture);
        _lastPort = new PortString(port, text);
        return text;
    }

    private sealed record PortString(int Port, string Text);

    private bool IsTrusted(IPAddress? address)
    {
        if (address is null || _trustedProxies.Length == 0)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _trustedProxies)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPNetwork ParseNetwork(string text)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        var address = IPAddress.Parse(text);
        return new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
    }

    internal enum Mode
    {
        Untrusted,
        Trusted,
        Hipache,
    }

    /// <summary>The router's values for one request and how each combines with the client's.</summary>
    internal readonly struct Decision
    {
        private readonly string _client;
        private readonly string _proto;
        private readonly string _port;
        private readonly Mode _mode;

        internal Decision(string client, string proto, string port, Mode mode)
        {
            _client = client;
            _proto = proto;
            _port = port;
            _mode = mode;
        }

        /// <summary>The router's value of header <paramref name="index"/> of <see cref="Names"/>.</summary>
        public string Value(int index) => index switch
        {
            0 or 1 => _client,
            2 or 3 => _proto,
            _ => _port,
        };

        public ForwardedHeaderMode HowToCombine(int index) => _mode switch
        {
            Mode.Untrusted => ForwardedHeaderMode.Replace,
            // A proxy in front of us already said who the client is: keep it, add the hop we saw.
            Mode.Trusted when index == 0 => ForwardedHeaderMode.Append,
            _ => ForwardedHeaderMode.SetIfAbsent,
        };
    }
}
