using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Sticky sessions by cookie, for frontends whose settings name a cookie: the first response
/// carries <c>&lt;name&gt;=&lt;token&gt;</c>, where the token names the backend (a hash of its
/// URL, so reordering the list keeps it) and is signed with HMAC-SHA256 under a key all routers
/// share through Redis (<see cref="RouteKeys.StickySecretKey"/>), so any router honours it, and
/// after restarts. A token that does not verify, or names a backend that is dead, gone or failed
/// this request, is ignored: the policy chooses and a new cookie is sent.
/// </summary>
internal sealed partial class StickySessions(RouteWriter store, IOptions<RouterOptions> options, ILogger<StickySessions> logger) : BackgroundService
{
    private const int IdBytes = 8;

    // 96 bits of HMAC: forging one takes ~2^96 tries against a router, far beyond reach.
    private const int MacBytes = 12;
    private const int MaxStackMessage = 512;

    private readonly string _candidate = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private byte[]? _key;

    /// <summary>False until the shared key was read (Redis down at start): no sticky choice meanwhile.</summary>
    public bool IsReady => Volatile.Read(ref _key) is not null;

    /// <summary>The index of the backend the request's cookie names while it verifies, else -1.</summary>
    public int Preferred(RouteEntry route, RouteBalancing balancing, HttpContext context)
    {
        var key = Volatile.Read(ref _key);
        if (key is null || context.Request.Cookies[balancing.StickyCookie!] is not { Length: > 0 and <= 64 } cookie)
        {
            return -1;
        }

        // Whatever a client sends: the status form never throws (TryDecodeFromChars does on a bad character).
        Span<byte> token = stackalloc byte[IdBytes + MacBytes];
        if (Base64Url.DecodeFromChars(cookie, token, out _, out var written) != OperationStatus.Done || written != token.Length)
        {
            return -1;
        }

        var id = BinaryPrimitives.ReadUInt64LittleEndian(token);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Sign(key, route.FrontendKey, id, mac);
        if (!CryptographicOperations.FixedTimeEquals(mac[..MacBytes], token[IdBytes..]))
        {
            return -1;
        }

        return Array.IndexOf(balancing.UrlHashes, id);
    }

    /// <summary>The cookie naming <paramref name="index"/>, as a Set-Cookie value.</summary>
    public string SetCookie(RouteEntry route, RouteBalancing balancing, int index, bool secure)
    {
        var key = Volatile.Read(ref _key)!;
        Span<byte> token = stackalloc byte[IdBytes + MacBytes];
        var id = balancing.UrlHashes[index];
        BinaryPrimitives.WriteUInt64LittleEndian(token, id);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Sign(key, route.FrontendKey, id, mac);
        mac[..MacBytes].CopyTo(token[IdBytes..]);
        return $"{balancing.StickyCookie}={Base64Url.EncodeToString(token)}; Path=/; HttpOnly; SameSite=Lax{(secure ? "; Secure" : string.Empty)}";
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Read again every StoreCheckInterval: after a FLUSHALL the first router to look sets its
        // key again and the others adopt it, so they keep agreeing.
        using var timer = new PeriodicTimer(options.Value.StoreCheckInterval);
        try
        {
            do
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            var key = Encoding.UTF8.GetBytes(await store.ClaimStickySecretAsync(_candidate, cancellationToken).ConfigureAwait(false));
            var current = Volatile.Read(ref _key);
            if (current is null || !current.AsSpan().SequenceEqual(key))
            {
                if (current is not null)
                {
                    LogKeyChanged(logger);
                }

                Volatile.Write(ref _key, key);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis is down: keep the key we have (cookies stay good); none yet means no stickiness.
        }
    }

    /// <summary>HMAC-SHA256 of the frontend key and the backend id: a token is good for its frontend only.</summary>
    private static void Sign(byte[] key, string frontendKey, ulong id, Span<byte> mac)
    {
        var length = Encoding.UTF8.GetMaxByteCount(frontendKey.Length) + 1 + IdBytes;
        var rented = length > MaxStackMessage ? ArrayPool<byte>.Shared.Rent(length) : null;
        var message = rented ?? stackalloc byte[MaxStackMessage];
        var written = Encoding.UTF8.GetBytes(frontendKey, message);
        message[written++] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(message[written..], id);
        HMACSHA256.HashData(key, message[..(written + IdBytes)], mac);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    [LoggerMessage(EventId = 70, Level = LogLevel.Warning, Message = "The sticky-session key in Redis changed (flushed and set again?): cookies issued before are ignored once")]
    private static partial void LogKeyChanged(ILogger logger);
}

/// <summary>One request's sticky-session state: adds the cookie when the response starts, if a backend other than the cookie's served it.</summary>
internal sealed class StickyResponse(StickySessions sessions, RouteEntry route, RouteBalancing balancing, int preferred, HttpContext context)
{
    public static readonly Func<object, Task> OnStarting = static state =>
    {
        ((StickyResponse)state).AppendCookie();
        return Task.CompletedTask;
    };

    public int Preferred { get; } = preferred;

    /// <summary>The backend of the current attempt; -1 when the router answers itself (an error page carries no cookie).</summary>
    public int Chosen { get; set; } = -1;

    private void AppendCookie()
    {
        if (Chosen >= 0 && Chosen != Preferred)
        {
            context.Response.Headers.Append("Set-Cookie", sessions.SetCookie(route, balancing, Chosen, context.Request.IsHttps));
        }
    }
}
