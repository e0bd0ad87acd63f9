using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore.Certificates;

namespace Hipache.Aspire.Admin.Certificates;

/// <summary>
/// Checks an upload before anything is stored: the chain parses and is in order, the key parses and
/// belongs to the leaf, the name is covered by one of the leaf's DNS names, and the certificate is
/// valid now. Every problem is reported at once, by field.
/// </summary>
internal static class CertificateValidation
{
    // Clocks of the uploader, the CA and this server disagree a little.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>A stored name: a hostname, a wildcard <c>*.example.com</c> or <c>_default</c>, lower case.</summary>
    public static bool TryNormalizeName(string? input, out string name, out string? error)
    {
        if (string.Equals(input?.Trim(), CertificateNames.Default, StringComparison.OrdinalIgnoreCase))
        {
            name = CertificateNames.Default;
            error = null;
            return true;
        }

        if (!RouteValidation.TryNormalizeHost(input, out name, out error))
        {
            return false;
        }

        if (name == "*" || name.Contains('_', StringComparison.Ordinal))
        {
            error = $"'{input}' is not a TLS name: a hostname, a wildcard '*.example.com', or '{CertificateNames.Default}' for the default certificate.";
            return false;
        }

        return true;
    }

    /// <summary>The leaf with its key and the chain's PEM as it will be stored, or the errors by field.</summary>
    public static ValidatedCertificate? Validate(string name, CertificateWrite body, DateTimeOffset now, Dictionary<string, string[]> errors)
    {
        X509Certificate2Collection? chain = null;
        if (string.IsNullOrWhiteSpace(body.Certificate))
        {
            errors["certificate"] = ["The certificate chain (PEM) is required."];
        }
        else
        {
            try
            {
                chain = CertificateMaterial.ParseChain(body.Certificate);
            }
            catch (CryptographicException ex)
            {
                errors["certificate"] = [$"Not a PEM certificate chain: {ex.Message}"];
            }

            if (chain is { Count: 0 })
            {
                errors["certificate"] = [body.Certificate.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)
                    ? "Not a PEM certificate chain: no CERTIFICATE block holds a valid certificate (base64 of DER)."
                    : "No '-----BEGIN CERTIFICATE-----' block found."];
                chain = null;
            }
        }

        if (string.IsNullOrWhiteSpace(body.Key))
        {
            errors["key"] = ["The private key (PEM) is required."];
        }
        else if (body.Key.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
        {
            errors["key"] = ["An encrypted key is not accepted: send it decrypted (openssl pkey -in key.pem); it is encrypted with CertificateStore:Keys before it is stored."];
        }

        if (chain is null)
        {
            return null;
        }

        var leaf = chain[0];
        var certificateErrors = new List<string>();
        for (var i = 0; i + 1 < chain.Count; i++)
        {
            if (chain[i].IssuerName.RawData.AsSpan().SequenceEqual(chain[i + 1].SubjectName.RawData) is false)
            {
                certificateErrors.Add(string.Create(CultureInfo.InvariantCulture, $"The chain is not in order: certificate {i + 1} ('{chain[i].Subject}') was not issued by certificate {i + 2} ('{chain[i + 1].Subject}'). Send the leaf first, then each issuer."));
                break;
            }
        }

        if (leaf.NotAfter.ToUniversalTime() <= now.UtcDateTime)
        {
            certificateErrors.Add($"The certificate expired on {leaf.NotAfter.ToUniversalTime():u}.");
        }
        else if (leaf.NotBefore.ToUniversalTime() > now.UtcDateTime + ClockSkew)
        {
            certificateErrors.Add($"The certificate is not valid before {leaf.NotBefore.ToUniversalTime():u}.");
        }

        var dnsNames = CertificateMaterial.DnsNames(leaf);
        if (name != CertificateNames.Default && !dnsNames.Any(dns => Covers(dns, name)))
        {
            certificateErrors.Add(dnsNames.Count == 0
                ? $"The certificate has no DNS name (subject alternative name) at all; '{name}' must be one of them."
                : $"'{name}' is not covered by the certificate's DNS names ({string.Join(", ", dnsNames)}).");
        }

        if (certificateErrors.Count > 0)
        {
            errors["certificate"] = [.. certificateErrors];
        }

        if (errors.ContainsKey("key"))
        {
            return null;
        }

        byte[] pkcs8;
        X509Certificate2 withKey;
        try
        {
            (withKey, pkcs8) = Combine(leaf, body.Key!);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            errors["key"] = [$"The key does not fit the certificate: {ex.Message}"];
            return null;
        }

        return errors.Count > 0 ? null : new ValidatedCertificate(withKey, pkcs8, body.Certificate!.Trim() + "\n");
    }

    /// <summary>The view of a stored chain (its leaf), as the API shows it.</summary>
    public static CertificateView View(StoredCertificate stored)
    {
        var chain = CertificateMaterial.ParseChain(stored.ChainPem);
        var leaf = chain[0];
        return new CertificateView(
            stored.Name,
            leaf.Subject,
            leaf.Issuer,
            CertificateMaterial.DnsNames(leaf),
            new DateTimeOffset(leaf.NotBefore.ToUniversalTime()),
            new DateTimeOffset(leaf.NotAfter.ToUniversalTime()),
            CertificateMaterial.Fingerprint(leaf),
            KeyAlgorithm(leaf),
            chain.Count,
            stored.UpdatedAt);
    }

    /// <summary>A DNS name of the certificate covers a stored name: equal, or a wildcard one label up (RFC 6125).</summary>
    private static bool Covers(string dnsName, string name)
    {
        var dns = dnsName.TrimEnd('.').ToLowerInvariant();
        if (dns == name)
        {
            return true;
        }

        if (!dns.StartsWith("*.", StringComparison.Ordinal) || name.StartsWith("*.", StringComparison.Ordinal))
        {
            return false;
        }

        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && string.Equals(name[dot..], dns[1..], StringComparison.Ordinal);
    }

    /// <summary>
    /// The key as PKCS#8 (what is stored) and the leaf with it, made the way a router makes it
    /// (<see cref="CertificateMaterial"/>), which refuses a key whose public half is not the certificate's.
    /// </summary>
    private static (X509Certificate2 WithKey, byte[] Pkcs8) Combine(X509Certificate2 leaf, string keyPem)
    {
        using var key = CertificateMaterial.CreateKeyFor(leaf);
        key.ImportFromPem(keyPem);
        return (CertificateMaterial.WithPrivateKey(leaf, key), key.ExportPkcs8PrivateKey());
    }

    private static string KeyAlgorithm(X509Certificate2 leaf)
    {
        using (var rsa = leaf.GetRSAPublicKey())
        {
            if (rsa is not null)
            {
                return string.Create(CultureInfo.InvariantCulture, $"RSA {rsa.KeySize}");
            }
        }

        using var ecdsa = leaf.GetECDsaPublicKey();
        return ecdsa is null ? leaf.PublicKey.Oid.FriendlyName ?? leaf.PublicKey.Oid.Value ?? "unknown" : string.Create(CultureInfo.InvariantCulture, $"ECDSA P-{ecdsa.KeySize}");
    }
}

/// <summary>An upload that passed every check.</summary>
internal sealed record ValidatedCertificate(X509Certificate2 Leaf, byte[] Pkcs8, string ChainPem);
