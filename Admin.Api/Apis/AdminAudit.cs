using System.Security.Claims;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Admin.Apis;

/// <summary>One structured log line per write: who (key id, never the key), what, which host or app, the result.</summary>
internal sealed partial class AdminAudit(ILogger<AdminAudit> logger)
{
    public void Record(ClaimsPrincipal caller, string operation, string target, string result) =>
        LogWrite(logger, caller.Identity?.Name ?? "anonymous", operation, target, result);

    public void Record(ClaimsPrincipal caller, string operation, string target, FrontendOutcome outcome) =>
        Record(caller, operation, target, outcome switch
        {
            FrontendOutcome.Created => "created",
            FrontendOutcome.Replaced => "replaced",
            FrontendOutcome.Unchanged => "unchanged",
            FrontendOutcome.Deleted => "deleted",
            FrontendOutcome.NotFound => "not-found",
            FrontendOutcome.BackendNotFound => "backend-not-found",
            FrontendOutcome.PreconditionFailed => "precondition-failed",
            _ => "owner-conflict",
        });

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Audit: {Caller} {Operation} {Target}: {Result}")]
    private static partial void LogWrite(ILogger logger, string caller, string operation, string target, string result);
}
