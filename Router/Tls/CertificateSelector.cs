using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.RouteStore.Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Hipache.Aspire.Router.Tls;

/// <summary>
/// Picks the certificate of each TLS handshake by the client's SNI name from the certificate store
/// (exact name, then wildcard, then <c>_default</c>; <see cref="CertificateNames"/>), falling back to
/// the listener's own PEM files. A name seen before is answered from memory, never waiting for
/// Redis: entries live <see cref="RouterOptions.CertificateCacheTtl"/>, are refreshed in the
/// background after that, and are dropped at once when the change channel says their certificate
/// changed (<see cref="OnChanged"/>). Connections already open keep the certificate they got.
/// </summary>
internal sealed partial class CertificateSelector
{
    private readonly CertificateStore _store;
    private readonly PrivateKeyProtector _protector;
    private readonly TimeProvider _time;
    private readonly ILogger<CertificateSelector> _logger;
    private readonly int _tenantCapacity;
    private readonly int _fallbackCapacity;
    private readonly long _ttlMs;

    // SNI name -> what it resolved to. Names served by their own or a wildcard certificate are kept
    // apart from names that fell through to the default (or to nothing): a flood of random names
    // recycles the second map only.
    private readonly ConcurrentDictionary<string, Resolution> _tenants = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Resolution> _fallbacks = new(StringComparer.Ordinal);

    // Store name -> its certificate, so that every name a wildcard or the default serves shares
    // one decrypted key and one built chain.
    private readonly ConcurrentDictionary<string, Loaded> _loaded = new(StringComparer.Ordinal);

    // Intermediate certificates by their base64 text: shared by every chain that has them.
    private const int MaxIntermediates = 1024;
    private readonly ConcurrentDictionary<string, X509Certificate2> _intermediates = new(StringComparer.Ordinal);

    // Concurrent first handshakes of one name share one read.
    private readonly ConcurrentDictionary<string, Lazy<Task<Resolution>>> _reads = new(StringComparer.Ordinal);

    // Bumped by every change message: a read that started before one is answered, not cached.
    private long _generation;

    public CertificateSelector(CertificateStore store, PrivateKeyProtector protector, IOptions<RouterOptions> options, TimeProvider time, ILogger<CertificateSelector> logger)
    {
        _store = store;
        _protector = protector;
        _time = time;
        _logger = logger;
        var o = options.Value;
        _tenantCapacity = o.CertificateCacheSize;
        _fallbackCapacity = Math.Max(1, o.CertificateCacheSize / 4);
        _ttlMs = (long)o.CertificateCacheTtl.TotalMilliseconds;
    }

    /// <summary>Whether the store is on (CertificateStore:Keys configured): without keys nothing stored can be decrypted.</summary>
    public bool IsEnabled => _protector.IsEnabled;

    /// <summary>Names whose resolution is held (tenants and fallbacks), for tests and gauges.</summary>
    public int CachedNames => _tenants.Count + _fallbacks.Count;

    /// <summary>Decrypted certificates held.</summary>
    public int LoadedCertificates => _loaded.Count;

    /// <summary>Kestrel's per-handshake callback; its state is the listener's own certificate (or null).</summary>
    public ValueTask<SslServerAuthenticationOptions> SelectAsync(TlsHandshakeCallbackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var fallback = context.State as SslStreamCertificateContext;
        var name = Normalize(context.ClientHelloInfo.ServerName);
        if (TryCached(name, out var resolution))
        {
            if (_time.GetTimestamp() - resolution.LoadedAt > TicksOf(_ttlMs))
            {
                // Stale: serve it, refresh for the next handshake.
                _ = RefreshAsync(name);
            }

            return new(Options(resolution.Certificate ?? fallback, name));
        }

        return SlowAsync(name, fallback, context.CancellationToken);
    }

    /// <summary>A certificate changed (the change channel's <c>\u0001cert:</c> message): every name it could serve is read again.</summary>
    public void OnChanged(string storeName)
    {
        // Reads in flight may have fetched the old certificate: they must not be cached or joined.
        Interlocked.Increment(ref _generation);
        _reads.Clear();
        _loaded.TryRemove(storeName, out _);
        Drop(_tenants, storeName);
        Drop(_fallbacks, storeName);
        LogCertificateChanged(_logger, storeName);
    }

    /// <summary>After a reconnect or a replaced store: messages may have been missed.</summary>
    public void InvalidateAll()
    {
        Interlocked.Increment(ref _generation);
        _reads.Clear();
        _tenants.Clear();
        _fallbacks.Clear();
        _loaded.Clear();
    }

    private async ValueTask<SslServerAuthenticationOptions> SlowAsync(string name, SslStreamCertificateContext? fallback, CancellationToken cancellationToken)
    {
        Resolution resolution;
        try
        {
            resolution = await ResolveAsync(name).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis unreachable and nothing cached for this name: the listener's own certificate, if any.
            LogStoreUnavailable(_logger, name, ex.Message);
            return Options(fallback, name);
        }

        return Options(resolution.Certificate ?? fallback, name);
    }

    private async Task RefreshAsync(string name)
    {
        try
        {
            await ResolveAsync(name).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Keep serving what is cached; the next handshake tries again.
            LogStoreUnavailable(_logger, name, ex.Message);
        }
    }

    private Task<Resolution> ResolveAsync(string name)
    {
        var read = _reads.GetOrAdd(name, static (n, self) => new Lazy<Task<Resolution>>(() => self.ReadAsync(n)), this);
        return read.Value;
    }

    private async Task<Resolution> ReadAsync(string name)
    {
        var generation = Volatile.Read(ref _generation);
        try
        {
            var candidates = CertificateNames.Candidates(name);
            var found = await _store.GetManyAsync(candidates).ConfigureAwait(false);
            Resolution resolution = new(null, null, _time.GetTimestamp());
            for (var i = 0; i < found.Length; i++)
            {
                if (found[i] is { } stored && Load(stored) is { } certificate)
                {
                    resolution = new(stored.Name, certificate, _time.GetTimestamp());
                    break;
                }
            }

            if (Volatile.Read(ref _generation) == generation)
            {
                Remember(name, resolution);
            }

            return resolution;
        }
        finally
        {
            _reads.TryRemove(name, out _);
        }
    }

    private SslStreamCertificateContext? Load(StoredCertificate stored)
    {
        if (_loaded.TryGetValue(stored.Name, out var loaded) && loaded.UpdatedAt == stored.UpdatedAt)
        {
            return loaded.Certificate;
        }

        try
        {
            var (leafOnly, intermediates) = ParseChain(stored.ChainPem);
            var key = _protector.Unprotect(stored.Name, stored.ProtectedKey);
            X509Certificate2 leaf;
            try
            {
                leaf = CertificateMaterial.WithPrivateKey(leafOnly, key);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
                leafOnly.Dispose();
            }

            // offline: the chain is what was uploaded; no fetching of issuers during a handshake.
            var certificate = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
            if (_loaded.Count >= _tenantCapacity)
            {
                _loaded.Clear();
            }

            _loaded[stored.Name] = new Loaded(stored.UpdatedAt, certificate);
            return certificate;
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            // A key encrypted with a key id this router lacks, or a damaged entry: the next candidate.
            LogUnusableCertificate(_logger, stored.Name, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// The leaf and its intermediates. Thousands of tenants share a handful of issuers: each
    /// intermediate is parsed once and shared (a parse is ~0.3 ms of a cold handshake).
    /// </summary>
    private (X509Certificate2 Leaf, X509Certificate2Collection Intermediates) ParseChain(string pem)
    {
        X509Certificate2? leaf = null;
        var intermediates = new X509Certificate2Collection();
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            if (rest[fields.Label].SequenceEqual("CERTIFICATE"))
            {
                var base64 = rest[fields.Base64Data];
                if (leaf is null)
                {
                    leaf = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(base64.ToString()));
                }
                else
                {
                    var text = base64.ToString();
                    if (!_intermediates.TryGetValue(text, out var intermediate))
                    {
                        intermediate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text));
                        if (_intermediates.Count >= MaxIntermediates)
                        {
                            _intermediates.Clear();
                        }

                        _intermediates[text] = intermediate;
                    }

                    intermediates.Add(intermediate);
                }
            }

            rest = rest[fields.Location.End..];
        }

        return (leaf ?? throw new CryptographicException("The stored chain holds no certificate."), intermediates);
    }

    private void Remember(string name, Resolution resolution)
    {
        var tenant = resolution.StoreName is { } storeName && storeName != CertificateNames.Default;
        var (into, other, capacity) = tenant ? (_tenants, _fallbacks, _tenantCapacity) : (_fallbacks, _tenants, _fallbackCapacity);
        if (into.Count >= capacity && !into.ContainsKey(name))
        {
            Evict(into, capacity);
        }

        into[name] = resolution;
        other.TryRemove(name, out _);
    }

    private bool TryCached(string name, out Resolution resolution) =>
        _tenants.TryGetValue(name, out resolution!) || _fallbacks.TryGetValue(name, out resolution!);

    /// <summary>Frees an eighth of a full map (an arbitrary eighth: enumeration order), so that eviction is rare and cheap.</summary>
    private static void Evict(ConcurrentDictionary<string, Resolution> map, int capacity)
    {
        var remove = Math.Max(1, capacity / 8);
        foreach (var key in map.Keys)
        {
            if (remove-- <= 0)
            {
                break;
            }

            map.TryRemove(key, out _);
        }
    }

    private static void Drop(ConcurrentDictionary<string, Resolution> map, string storeName)
    {
        foreach (var name in map.Keys)
        {
            if (CertificateNames.Covers(storeName, name))
            {
                map.TryRemove(name, out _);
            }
        }
    }

    private SslServerAuthenticationOptions Options(SslStreamCertificateContext? certificate, string name)
    {
        if (certificate is null)
        {
            LogNoCertificate(_logger, name);
            throw new AuthenticationException($"No certificate for '{name}': none stored for it, no wildcard, no _default, and the listener has none of its own.");
        }

        // A new object per handshake: Kestrel fills in ALPN (h2, http/1.1) on the one it is given.
        return new SslServerAuthenticationOptions { ServerCertificateContext = certificate };
    }

    private static string Normalize(string? serverName) =>
        string.IsNullOrEmpty(serverName) ? string.Empty : serverName.TrimEnd('.').ToLowerInvariant();

    private long TicksOf(long milliseconds) => milliseconds * _time.TimestampFrequency / 1000;

    private sealed record Resolution(string? StoreName, SslStreamCertificateContext? Certificate, long LoadedAt);

    private sealed record Loaded(DateTimeOffset UpdatedAt, SslStreamCertificateContext Certificate);

    [LoggerMessage(EventId = 93, Level = LogLevel.Information, Message = "Certificate '{Name}' changed: the names it serves are read again on their next handshake")]
    private static partial void LogCertificateChanged(ILogger logger, string name);

    [LoggerMessage(EventId = 94, Level = LogLevel.Warning, Message = "Certificate store unreachable for SNI name '{Name}' ({Reason}): the listener's own certificate is used")]
    private static partial void LogStoreUnavailable(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 95, Level = LogLevel.Error, Message = "Stored certificate '{Name}' cannot be used ({Reason}): check CertificateStore:Keys against the admin API's")]
    private static partial void LogUnusableCertificate(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 96, Level = LogLevel.Debug, Message = "TLS handshake for '{Name}' refused: no certificate")]
    private static partial void LogNoCertificate(ILogger logger, string name);
}
