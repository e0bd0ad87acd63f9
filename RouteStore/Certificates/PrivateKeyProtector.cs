using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>
/// Encrypts a certificate's private key before it reaches Redis, and decrypts it in the router:
/// AES-256-GCM with a key from <see cref="CertificateStoreOptions"/>, never stored in Redis, so a
/// Redis dump, replica, backup or a client with read access to Redis gets no usable key. The
/// certificate's name is authenticated with it, so a ciphertext moved to another name's hash does
/// not decrypt. Stored form: <c>v1:&lt;key id&gt;:&lt;base64 nonce|tag|ciphertext&gt;</c>.
/// </summary>
public sealed class PrivateKeyProtector
{
    private const string Version = "v1";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly Dictionary<string, byte[]> _keys;
    private readonly string? _activeKeyId;

    public PrivateKeyProtector(IOptions<CertificateStoreOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = options.Value;
        _keys = o.Keys.ToDictionary(k => k.Key, k => TryDecodeKey(k.Value, out var key) ? key : throw new InvalidOperationException($"CertificateStore:Keys:{k.Key} is not a 32-byte base64 key."), StringComparer.Ordinal);
        _activeKeyId = o.ActiveKeyId;
    }

    /// <summary>Whether keys are configured: without them the certificate store is off.</summary>
    public bool IsEnabled => _activeKeyId is not null;

    public string Protect(string name, ReadOnlySpan<byte> pkcs8PrivateKey)
    {
        var keyId = _activeKeyId ?? throw new InvalidOperationException("The certificate store has no key (CertificateStore:Keys).");
        var blob = new byte[NonceSize + TagSize + pkcs8PrivateKey.Length];
        var nonce = blob.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(_keys[keyId], TagSize))
        {
            aes.Encrypt(nonce, pkcs8PrivateKey, blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), AssociatedData(name));
        }

        return $"{Version}:{keyId}:{Convert.ToBase64String(blob)}";
    }

    /// <summary>The PKCS#8 private key, or an exception whose message says why it cannot be had (unknown key id, tampered, another name's).</summary>
    public byte[] Unprotect(string name, string stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var parts = stored.Split(':', 3);
        if (parts.Length != 3 || parts[0] != Version)
        {
            throw new CryptographicException("The stored private key is not in a format this version knows.");
        }

        if (!_keys.TryGetValue(parts[1], out var key))
        {
            throw new CryptographicException($"The stored private key was encrypted with key '{parts[1]}', which is not in CertificateStore:Keys.");
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            throw new CryptographicException("The stored private key is not base64.");
        }

        if (blob.Length <= NonceSize + TagSize)
        {
            throw new CryptographicException("The stored private key is truncated.");
        }

        var plain = new byte[blob.Length - NonceSize - TagSize];
        using var aes = new AesGcm(key, TagSize);
        // Throws AuthenticationTagMismatchException (a CryptographicException) when tampered or another name's.
        aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), plain, AssociatedData(name));
        return plain;
    }

    /// <summary>Shortest key given as text rather than as 32 base64 bytes (about 190 bits from letters and digits).</summary>
    internal const int MinimumTextKeyLength = 32;

    /// <summary>
    /// The AES-256 key of a configured value: the base64 of exactly 32 bytes as it is, or else a
    /// text of at least <see cref="MinimumTextKeyLength"/> characters (a generated secret
    /// parameter) stretched to 32 bytes with HKDF-SHA256.
    /// </summary>
    internal static bool TryDecodeKey(string? value, out byte[] key)
    {
        key = [];
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.Trim();
        try
        {
            key = Convert.FromBase64String(text);
            if (key.Length == 32)
            {
                return true;
            }
        }
        catch (FormatException)
        {
        }

        if (text.Length < MinimumTextKeyLength)
        {
            return false;
        }

        key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(text), 32, salt: [], info: Encoding.UTF8.GetBytes("hipache-aspire certificate store key"));
        return true;
    }

    private static byte[] AssociatedData(string name) => Encoding.UTF8.GetBytes("hipache-aspire certificate key:" + name);
}
