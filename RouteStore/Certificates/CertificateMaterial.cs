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
        ArgumentNullException.ThrowIfNull(leaf);
        if (leaf.GetRSAPublicKey() is { } rsaPublic)
        {
            rsaPublic.Dispose();
            using var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(pkcs8, out _);
            return leaf.CopyWithPrivateKey(rsa);
        }

        if (leaf.GetECDsaPublicKey() is { } ecPublic)
        {
            ecPublic.Dispose();
            using var ecdsa = ECDsa.Create();
            ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
            return leaf.CopyWithPrivateKey(ecdsa);
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
