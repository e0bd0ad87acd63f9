using System.Security.Cryptography;
using Hipache.Aspire.RouteStore.Certificates;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.RouteStore.Tests;

/// <summary>Private keys at rest: encrypted, bound to their name, decryptable after a key rotation, refused when tampered.</summary>
public sealed class PrivateKeyProtectorTests
{
    private static readonly string KeyA = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string KeyB = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void A_key_round_trips_only_under_its_own_name_and_the_stored_form_hides_it()
    {
        var protector = Protector(("a", KeyA));
        var secret = RandomNumberGenerator.GetBytes(121);
        var stored = protector.Protect("www.example.test", secret);

        Assert.StartsWith("v1:a:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(secret)[..20], stored, StringComparison.Ordinal);
        Assert.Equal(secret, protector.Unprotect("www.example.test", stored));
        // Moved to another name's hash: refused.
        Assert.ThrowsAny<CryptographicException>(() => protector.Unprotect("evil.example.test", stored));
        // Two encryptions of one key differ (a fresh nonce each).
        Assert.NotEqual(stored, protector.Protect("www.example.test", secret));
    }

    [Fact]
    public void After_a_rotation_old_keys_still_decrypt_new_writes_use_the_active_key_and_unknown_or_tampered_data_is_refused()
    {
        var secret = RandomNumberGenerator.GetBytes(64);
        var before = Protector(("a", KeyA)).Protect("h.test", secret);
        var rotated = Protector(("a", KeyA), ("b", KeyB), active: "b");
        Assert.Equal(secret, rotated.Unprotect("h.test", before));
        Assert.StartsWith("v1:b:", rotated.Protect("h.test", secret), StringComparison.Ordinal);

        var onlyB = Protector(("b", KeyB));
        Assert.Contains("'a'", Assert.ThrowsAny<CryptographicException>(() => onlyB.Unprotect("h.test", before)).Message, StringComparison.Ordinal);

        var parts = before.Split(':');
        var blob = Convert.FromBase64String(parts[2]);
        blob[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => rotated.Unprotect("h.test", $"v1:a:{Convert.ToBase64String(blob)}"));
        Assert.ThrowsAny<CryptographicException>(() => rotated.Unprotect("h.test", "plain PEM"));
    }

    [Fact]
    public void Options_are_checked_at_start()
    {
        var validator = new CertificateStoreOptionsValidator();
        Assert.True(validator.Validate(null, Options(("a", KeyA))).Succeeded);
        Assert.True(validator.Validate(null, new CertificateStoreOptions()).Succeeded);
        Assert.Contains("32 bytes", validator.Validate(null, Options(("a", "c2hvcnQ="))).FailureMessage, StringComparison.Ordinal);
        // A long random text (a generated Aspire parameter) is a key too, stretched with HKDF; the same text is the same key.
        var text = "Zq8xTn2LwR5vBy7cKd1mPf4hJs9gXa3eUo6iNt0b";
        Assert.True(validator.Validate(null, Options(("a", text))).Succeeded);
        var stored = Protector(("a", text)).Protect("h.test", [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, Protector(("a", text)).Unprotect("h.test", stored));
        Assert.ThrowsAny<CryptographicException>(() => Protector(("a", text + "x")).Unprotect("h.test", stored));
        Assert.Contains("ActiveKey", validator.Validate(null, Options(("a", KeyA), ("b", KeyB))).FailureMessage, StringComparison.Ordinal);
        Assert.Contains("key id", validator.Validate(null, Options(("bad id!", KeyA))).FailureMessage, StringComparison.Ordinal);
        var missing = Options(("a", KeyA));
        missing.ActiveKey = "z";
        Assert.Contains("'z'", validator.Validate(null, missing).FailureMessage, StringComparison.Ordinal);
        Assert.False(new PrivateKeyProtector(Microsoft.Extensions.Options.Options.Create(new CertificateStoreOptions())).IsEnabled);
    }

    private static CertificateStoreOptions Options(params (string Id, string Key)[] keys)
    {
        var options = new CertificateStoreOptions();
        foreach (var (id, key) in keys)
        {
            options.Keys[id] = key;
        }

        return options;
    }

    private static PrivateKeyProtector Protector((string Id, string Key) key, (string Id, string Key)? second = null, string? active = null)
    {
        var options = second is { } s ? Options(key, s) : Options(key);
        options.ActiveKey = active;
        return new PrivateKeyProtector(Microsoft.Extensions.Options.Options.Create(options));
    }
}
