using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>
/// The keys that protect stored private keys (section <c>CertificateStore</c>), shared by the
/// admin API (which encrypts on upload) and every router (which decrypts on a handshake). Without
/// any key the certificate store is off: uploads are refused and routers use only their
/// configured PEM files.
/// </summary>
public sealed class CertificateStoreOptions
{
    public const string SectionName = "CertificateStore";

    /// <summary>
    /// Key id to key: base64 of 32 random bytes (AES-256), or a random text of at least 32
    /// characters (a generated secret parameter), stretched with HKDF. Several keys allow rotation: new uploads
    /// use <see cref="ActiveKey"/>, every listed key still decrypts what it protected.
    /// </summary>
    public IDictionary<string, string> Keys { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The key id new uploads are encrypted with; may be left out when there is one key.</summary>
    public string? ActiveKey { get; set; }

    public bool IsEnabled => Keys.Count > 0;

    /// <summary>The active key id (the only one when <see cref="ActiveKey"/> is not set), null when off.</summary>
    public string? ActiveKeyId => ActiveKey is { Length: > 0 } id ? id : Keys.Count == 1 ? Keys.Keys.First() : null;
}

/// <summary>Checks the keys at start: a router that cannot decrypt would fail only on a handshake, much later.</summary>
public sealed partial class CertificateStoreOptionsValidator : IValidateOptions<CertificateStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, CertificateStoreOptions options)
    {
        var failures = new List<string>();
        foreach (var (id, value) in options.Keys)
        {
            if (!KeyId().IsMatch(id))
            {
                failures.Add($"CertificateStore:Keys:{id}: a key id is 1-32 letters, digits, '-' or '_'.");
            }

            if (!PrivateKeyProtector.TryDecodeKey(value, out _))
            {
                failures.Add($"CertificateStore:Keys:{id}: neither the base64 of 32 bytes (generate one with: openssl rand -base64 32) nor a text of at least {PrivateKeyProtector.MinimumTextKeyLength} characters.");
            }
        }

        if (options.Keys.Count > 1 && string.IsNullOrEmpty(options.ActiveKey))
        {
            failures.Add("CertificateStore:ActiveKey: with several keys, name the one new uploads are encrypted with.");
        }

        if (!string.IsNullOrEmpty(options.ActiveKey) && !options.Keys.ContainsKey(options.ActiveKey))
        {
            failures.Add($"CertificateStore:ActiveKey '{options.ActiveKey}' is not one of CertificateStore:Keys.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,32}$")]
    private static partial Regex KeyId();
}
