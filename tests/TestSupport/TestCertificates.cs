using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hipache.Aspire.TestSupport;

/// <summary>A certificate with its chain and key as PEM, the way an operator uploads them.</summary>
public sealed record TestCertificate(X509Certificate2 Leaf, string ChainPem, string KeyPem)
{
    public string Fingerprint => Leaf.GetCertHashString(HashAlgorithmName.SHA256);
}

/// <summary>
/// Real certificates for tests: a test CA (ECDSA P-256, fast to make) issuing leaves with the DNS
/// names asked for. Nothing is committed; each run makes its own.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string caName = "Hipache.Aspire Test CA")
    {
        var request = new CertificateRequest($"CN={caName}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddYears(5));
    }

    /// <summary>The issuing CA (self-signed): what a client must trust.</summary>
    public X509Certificate2 Ca { get; }

    /// <summary>A leaf for <paramref name="dnsNames"/> (the first is the CN), issued by <see cref="Ca"/>, chain = leaf + CA.</summary>
    public TestCertificate Issue(string[] dnsNames, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool rsa = false)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        using AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA r
            ? new CertificateRequest($"CN={dnsNames[0]}", r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={dnsNames[0]}", (ECDsa)key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        var from = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-10);
        var to = notAfter ?? DateTimeOffset.UtcNow.AddDays(90);
        using var issued = request.Create(Ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey), from, to, serial);
        var leaf = X509CertificateLoader.LoadCertificate(issued.RawData);
        var keyPem = key is RSA rsaKey ? rsaKey.ExportPkcs8PrivateKeyPem() : ((ECDsa)key).ExportPkcs8PrivateKeyPem();
        return new TestCertificate(leaf, leaf.ExportCertificatePem() + "\n" + Ca.ExportCertificatePem() + "\n", keyPem);
    }

    public void Dispose()
    {
        _caKey.Dispose();
        Ca.Dispose();
    }
}

/// <summary>A certificate chain and its key as PEM files (a listener's own, Hipache-style configuration), deleted on dispose.</summary>
public sealed class PemFiles : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hipache-tls-").FullName;

    public PemFiles(TestCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Certificate = certificate;
        File.WriteAllText(CertPath, certificate.ChainPem);
        File.WriteAllText(KeyPath, certificate.KeyPem);
    }

    public TestCertificate Certificate { get; }

    public string CertPath => Path.Combine(_directory, "cert.pem");

    public string KeyPath => Path.Combine(_directory, "key.pem");

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
