namespace Hipache.Aspire.RouteStore.Certificates;

/// <summary>One stored certificate as Redis holds it: the PEM chain (leaf first), the encrypted private key and when it was written.</summary>
public sealed record StoredCertificate(string Name, string ChainPem, string ProtectedKey, DateTimeOffset NotAfter, DateTimeOffset UpdatedAt);
