using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>Turns stored PEM and PKCS#8 bytes into certificates, the same way for the admin API's checks and the router's handshakes.</summary>
public static class CertificateMaterial
{
    /// <summary>Every certificate of a PEM text, in order (leaf first by convention); empty when there is none.</summary>
    public static X509Certificate2Collection ParseChain(string pem)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(pem);
        return chain;
    }

    /// <summary>The leaf with its private key (PKCS#8: RSA or ECDSA), ready for a TLS server.</summary>
    public static X509Certificate2 WithPrivateKey(X509Certificate2 leaf, ReadOnlySpan<byte> pkcs8)
    {
        using var key = CreateKeyFor(leaf);
        key.ImportPkcs8PrivateKey(pkcs8, out _);
        return WithPrivateKey(leaf, key);
    }

    /// <summary>The leaf with <paramref name="key"/> (from <see cref="CreateKeyFor"/>); refuses a key whose public half is not the certificate's.</summary>
    public static X509Certificate2 WithPrivateKey(X509Certificate2 leaf, AsymmetricAlgorithm key)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        return key switch
        {
            RSA rsa => leaf.CopyWithPrivateKey(rsa),
            ECDsa ecdsa => leaf.CopyWithPrivateKey(ecdsa),
            _ => throw new CryptographicException("Only RSA and ECDSA certificates are supported."),
        };
    }

    /// <summary>An empty key of the leaf's algorithm (RSA or ECDSA), to import its private key into.</summary>
    public static AsymmetricAlgorithm CreateKeyFor(X509Certificate2 leaf)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        using (var rsa = leaf.GetRSAPublicKey())
        {
            if (rsa is not null)
            {
                return RSA.Create();
            }
        }

        using (var ecdsa = leaf.GetECDsaPublicKey())
        {
            if (ecdsa is not null)
            {
                return ECDsa.Create();
            }
        }

        throw new CryptographicException("Only RSA and ECDSA certificates are supported.");
    }

    /// <summary>Upper-case hex SHA-256 of the certificate (what browsers show as its fingerprint).</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>The DNS names of the subject alternative name extension.</summary>
    public static IReadOnlyList<string> DnsNames(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san)
            {
                return [.. san.EnumerateDnsNames()];
            }
        }

        return [];
    }
}
