using System.Net;

namespace Hipache.Aspire.Router.AccessLog;

/// <summary>
/// What one access log line says, as the request left it: references to strings the request
/// already holds and a few numbers. Queued by value (no allocation on the request path) and
/// formatted by the writer's loop, off the request thread.
/// </summary>
internal readonly record struct AccessLogEntry(
    IPAddress? Address,
    DateTimeOffset StartedAt,
    string Method,
    string Target,
    string Protocol,
    int Status,
    long Bytes,
    string? Referer,
    string? UserAgent,
    string Identifier,
    TimeSpan Total,
    TimeSpan Backend);
