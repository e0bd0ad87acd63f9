namespace Hipache.Aspire.Admin.Apis;

/// <summary>Body of <c>PUT /v1/apps/{app}</c>: the app's whole state, every host served by the same backends.</summary>
public sealed record AppWrite(IReadOnlyList<string>? Hosts, IReadOnlyList<string>? Backends);

/// <summary>
/// An app as its frontend lists say it is: the hosts whose list has the app as identifier, and
/// the backends of those lists (in order of first appearance, should redis-cli have made them differ).
/// </summary>
public sealed record AppView(string App, IReadOnlyList<string> Hosts, IReadOnlyList<string> Backends);

/// <summary>Answer of <c>POST /v1/apps/_reindex</c>: what one walk over every frontend list found.</summary>
public sealed record AppIndexRebuild(int FrontendsScanned, int HostsIndexed, int Apps);
