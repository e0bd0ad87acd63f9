namespace Hipache.Aspire.Admin.Apis;

/// <summary>Body of <c>PUT /v1/frontends/{host}</c>.</summary>
public sealed record FrontendWrite(string? App, IReadOnlyList<string>? Backends);

/// <summary>Body of <c>POST /v1/frontends/{host}/backends</c>.</summary>
public sealed record BackendWrite(string? Url);

public sealed record BackendView(string Url, bool Dead, DateTimeOffset? DeadUntil);

public sealed record FrontendView(string Host, string App, IReadOnlyList<BackendView> Backends);
