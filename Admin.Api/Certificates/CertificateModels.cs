using System.Text.Json.Serialization;

namespace Hipache.Aspire.Admin.Certificates;

/// <summary>
/// Body of <c>PUT /v1/certificates/{name}</c>: the certificate chain (PEM, leaf first, then its
/// intermediates) and its private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC; not encrypted).
/// </summary>
public sealed record CertificateWrite(string? Certificate, string? Key);

/// <summary>What the store holds for a name; the private key is never returned.</summary>
public sealed record CertificateView(
    string Name,
    string Subject,
    string Issuer,
    IReadOnlyList<string> DnsNames,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    string FingerprintSha256,
    string KeyAlgorithm,
    int ChainLength,
    DateTimeOffset UpdatedAt);

/// <summary>A page of <c>GET /v1/certificates</c>, soonest expiry first; <c>nextCursor</c> is absent on the last page.</summary>
public sealed record CertificatePage(IReadOnlyList<CertificateView> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? NextCursor);
