using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hipache.Aspire.RouteStore;
using Hipache.Aspire.RouteStore.Certificates;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.BenchTools;

/// <summary>
/// <c>certs</c>: writes N certificates into the certificate store as the admin API would (the same
/// <see cref="CertificateStore"/> and <see cref="PrivateKeyProtector"/>): host i is
/// <c>c&lt;i, 6 digits&gt;.tls.local</c>, each with its own leaf signed by a throwaway CA; the
/// leaves share one ECDSA key (making 10,000 keys would time the generator, not the router).
/// </summary>
internal static class CertificateLoader
{
    public static string Name(int i) => $"c{i:D6}.tls.local";

    public static async Task<int> RunAsync(CommandLine options, CancellationToken cancellationToken)
    {
        var count = options.Int("count", 10_000);
        var storeOptions = new CertificateStoreOptions();
        storeOptions.Keys["bench"] = options.Required("key");
        var protector = new PrivateKeyProtector(Options.Create(storeOptions));
        await using var connections = RedisConnections.Connect(new RouteStoreOptions { ConnectionString = options.Required("redis") });
        var store = new CertificateStore(connections);

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Hipache.Aspire bench CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var caPem = ca.ExportCertificatePem();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var pkcs8 = leafKey.ExportPkcs8PrivateKey();
        var signer = X509SignatureGenerator.CreateForECDsa(caKey);

        var started = Stopwatch.GetTimestamp();
        var inFlight = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            var name = Name(i);
            var request = new CertificateRequest($"CN={name}", leafKey, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName(name);
            request.CertificateExtensions.Add(san.Build());
            var serial = BitConverter.GetBytes(i + 1L);
            using var leaf = request.Create(ca.SubjectName, signer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(90), serial);
            var stored = new StoredCertificate(name, leaf.ExportCertificatePem() + "\n" + caPem + "\n", protector.Protect(name, pkcs8), leaf.NotAfter.ToUniversalTime(), DateTimeOffset.UtcNow);
            inFlight.Add(store.PutAsync(stored, cancellationToken));
            if (inFlight.Count >= 256)
            {
                await Task.WhenAll(inFlight).ConfigureAwait(false);
                inFlight.Clear();
            }
        }

        await Task.WhenAll(inFlight).ConfigureAwait(false);
        Console.WriteLine($"CERTS count={count} seconds={Stopwatch.GetElapsedTime(started).TotalSeconds:F1}");
        return 0;
    }
}
