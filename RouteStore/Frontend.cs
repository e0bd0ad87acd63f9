namespace Hipache.Aspire.RouteStore;

/// <summary>One <c>frontend:&lt;key&gt;</c> list: element 0 the identifier, then the backend URLs.</summary>
public sealed record Frontend(string Key, string Identifier, IReadOnlyList<string> Backends);

/// <summary>
/// What one lookup read: the first candidate with a non-empty list, and the dead indexes that
/// apply to it (the matched key's dead set, plus the requested host's when it differs, Q12).
/// </summary>
public sealed record FrontendMatch(Frontend Frontend, IReadOnlySet<int> DeadIndexes, IReadOnlySet<int> RequestedHostDeadIndexes);
