using System.Buffers;
using System.Text;
using Hipache.Aspire.Router.Configuration;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// The request line and headers towards the backend, written from Kestrel's parsed request into
/// one pooled buffer: the client's raw target (hipache-compat 5.2), its Host unchanged, every
/// header except the hop-by-hop ones, those named in Connection (Q17) and <c>Proxy</c> (see
/// <see cref="ProxyHeader"/>), and the forwarding
/// headers as <see cref="ForwardedHeaders"/> decides, exactly as the YARP path sends them.
/// </summary>
internal sealed class RequestHeadWriter(ForwardedHeaders forwarded, IOptions<RouterOptions> options)
{
    private const int InitialSize = 4096;

    private readonly bool _dropProxyHeader = !options.Value.ForwardProxyHeader;

    // "1.1 <pseudonym>" when Router:Via is set.
    private readonly string? _via = string.IsNullOrEmpty(options.Value.Via) ? null : "1.1 " + options.Value.Via;

    /// <summary>Writes the head; the caller returns <paramref name="buffer"/> to <see cref="ArrayPool{T}.Shared"/>.</summary>
    /// <param name="chunked">The body goes chunked (the client's did): Content-Length is not sent.</param>
    /// <param name="close">Ask the backend to close after the response (Router:HttpKeepAlive false).</param>
    public int Write(HttpContext context, bool chunked, bool close, out byte[] buffer)
    {
        var request = context.Request;
        var head = new Head(ArrayPool<byte>.Shared.Rent(InitialSize));
        head.Text(request.Method);
        head.Byte((byte)' ');
        WriteTarget(ref head, context.Features.Get<IHttpRequestFeature>()?.RawTarget, request);
        head.Bytes(" HTTP/1.1\r\nHost: "u8);
        head.Text(request.Host.Value ?? string.Empty);
        head.Bytes("\r\n"u8);

        var decision = forwarded.Decide(context);
        Span<bool> clientSent = stackalloc bool[ForwardedHeaders.Names.Length];
        var headers = request.Headers;
        var connection = headers.Connection;
        var namesHeaders = connection.Count > 0 && ConnectionTokens.NamesAny(connection);
        var maxForwards = IntermediaryHeaders.ForwardedMaxForwards(request);
        var viaSent = false;
        foreach (var (name, values) in headers)
        {
            if (string.Equals(name, HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
                || HopByHopHeaders.Contains(name)
                || (chunked && string.Equals(name, HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
                || (namesHeaders && ConnectionTokens.Names(connection, name))
                || (_dropProxyHeader && ProxyHeader.Is(name))
                || HasNewLine(values))
            {
                continue;
            }

            var index = ForwardedHeaders.IndexOf(name);
            if (index >= 0)
            {
                var mode = decision.HowToCombine(index);
                if (mode == ForwardedHeaderMode.Replace)
                {
                    continue;
                }

                clientSent[index] = true;
                if (mode == ForwardedHeaderMode.Append)
                {
                    head.Text(name);
                    head.Bytes(": "u8);
                    var before = head.Length;
                    WriteValues(ref head, values, ", ");
                    if (head.Length > before)
                    {
                        head.Bytes(", "u8);
                    }

                    head.Text(decision.Value(index));
                    head.Bytes("\r\n"u8);
                    continue;
                }
            }

            if (maxForwards is not null && string.Equals(name, HeaderNames.MaxForwards, StringComparison.OrdinalIgnoreCase))
            {
                head.Text(name);
                head.Bytes(": "u8);
                head.Text(maxForwards);
                head.Bytes("\r\n"u8);
                continue;
            }

            if (_via is not null && string.Equals(name, HeaderNames.Via, StringComparison.OrdinalIgnoreCase))
            {
                viaSent = true;
                head.Text(name);
                head.Bytes(": "u8);
                WriteValues(ref head, values, ", ");
                head.Bytes(", "u8);
                head.Text(_via);
                head.Bytes("\r\n"u8);
                continue;
            }

            head.Text(name);
            head.Bytes(": "u8);
            // HttpClient would join a repeated Cookie with ',' (wrong for cookies); YARP joins it with "; ".
            WriteValues(ref head, values, string.Equals(name, HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase) ? "; " : ", ");
            head.Bytes("\r\n"u8);
        }

        for (var i = 0; i < ForwardedHeaders.Names.Length; i++)
        {
            if (!clientSent[i])
            {
                head.Text(ForwardedHeaders.Names[i]);
                head.Bytes(": "u8);
                head.Text(decision.Value(i));
                head.Bytes("\r\n"u8);
            }
        }

        if (_via is not null && !viaSent)
        {
            head.Bytes("Via: "u8);
            head.Text(_via);
            head.Bytes("\r\n"u8);
        }

        if (chunked)
        {
            head.Bytes("Transfer-Encoding: chunked\r\n"u8);
        }

        if (close)
        {
            head.Bytes("Connection: close\r\n"u8);
        }

        head.Bytes("\r\n"u8);
        buffer = head.Buffer;
        return head.Length;
    }

    /// <summary>
    /// The target as the client sent it (C14), absolute form reduced to path and query (Q26); '#',
    /// which cannot travel in a target, and non-ASCII characters go percent-encoded, as the YARP
    /// path sends them.
    /// </summary>
    private static void WriteTarget(ref Head head, string? raw, HttpRequest request)
    {
        if (string.IsNullOrEmpty(raw))
        {
            raw = request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
            if (raw.Length == 0)
            {
                raw = "/";
            }
        }
        else if (raw[0] != '/' && raw != "*")
        {
            var schemeEnd = raw.IndexOf("://", StringComparison.Ordinal);
            var pathStart = schemeEnd < 0 ? -1 : raw.IndexOf('/', schemeEnd + 3);
            raw = pathStart < 0 ? "/" : raw[pathStart..];
        }

        var span = raw.AsSpan();
        var odd = span.IndexOfAnyExceptInRange((char)0x21, (char)0x7e);
        if (odd < 0 && span.IndexOf('#') < 0)
        {
            head.Text(raw);
            return;
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (c is > (char)0x20 and < (char)0x7f and not '#')
            {
                head.Byte((byte)c);
                continue;
            }

            var rune = Rune.TryGetRuneAt(raw, i, out var r) ? r : Rune.ReplacementChar;
            var count = rune.EncodeToUtf8(utf8);
            for (var b = 0; b < count; b++)
            {
                head.Byte((byte)'%');
                head.Byte((byte)"0123456789ABCDEF"[utf8[b] >> 4]);
                head.Byte((byte)"0123456789ABCDEF"[utf8[b] & 0xf]);
            }

            if (rune.Utf16SequenceLength == 2)
            {
                i++;
            }
        }
    }

    private static void WriteValues(ref Head head, StringValues values, string separator)
    {
        if (values.Count == 1)
        {
            head.Text(values[0] ?? string.Empty);
            return;
        }

        var first = true;
        foreach (var value in values)
        {
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            if (!first)
            {
                head.Text(separator);
            }

            head.Text(value);
            first = false;
        }
    }

    /// <summary>YARP drops a header whose value holds a line break rather than let it split the head.</summary>
    private static bool HasNewLine(StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null && value.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A growable byte buffer from the shared pool.</summary>
    private ref struct Head(byte[] buffer)
    {
        public byte[] Buffer = buffer;

        public int Length;

        public void Byte(byte value)
        {
            Ensure(1);
            Buffer[Length++] = value;
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            Ensure(bytes.Length);
            bytes.CopyTo(Buffer.AsSpan(Length));
            Length += bytes.Length;
        }

        /// <summary>UTF-8 (ASCII for every ordinary header).</summary>
        public void Text(string text)
        {
            Ensure(Encoding.UTF8.GetMaxByteCount(text.Length));
            Length += Encoding.UTF8.GetBytes(text, Buffer.AsSpan(Length));
        }

        private void Ensure(int more)
        {
            if (Length + more <= Buffer.Length)
            {
                return;
            }

            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(Buffer.Length * 2, Length + more));
            Buffer.AsSpan(0, Length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = bigger;
        }
    }
}
