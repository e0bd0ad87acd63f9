using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hipache.Aspire.AppHost;

/// <summary>
/// The dev run's TLS certificate: self-signed for <c>localhost</c> and <c>*.localhost</c>, made at
/// every start into a temporary folder (never committed, never deployed), so that
/// <c>curl -k https://demo.localhost:8443</c> works on a fresh machine. It is the routers'
/// listener certificate: the last fallback after the certificate store.
/// </summary>
internal sealed class DevCertificate
{
    private DevCertificate(string certPath, string keyPath)
    {
        CertPath = certPath;
        KeyPath = keyPath;
    }

    public string CertPath { get; }

    public string KeyPath { get; }

    public static DevCertificate Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost, O=Hipache.Aspire development", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName("*.localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));

        var directory = Directory.CreateTempSubdirectory("hipache-aspire-dev-tls-").FullName;
        var certPath = Path.Combine(directory, "localhost.pem");
        var keyPath = Path.Combine(directory, "localhost.key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        // Readable by this user only: it is a private key, even a throwaway one.
        File.WriteAllText(keyPath, string.Empty);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return new DevCertificate(certPath, keyPath);
    }
}
