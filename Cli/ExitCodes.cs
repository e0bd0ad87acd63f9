namespace Hipache.Aspire.Cli;

/// <summary>What the process exit code means, for scripts (README lists them).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Any other failure the API reported (a 5xx other than 503).</summary>
    public const int Failed = 1;

    /// <summary>The command line, or the request the API refused as invalid (400, 422).</summary>
    public const int Invalid = 2;

    /// <summary>The admin API (or its Redis: 503) could not be reached.</summary>
    public const int Unreachable = 3;

    public const int NotFound = 4;

    /// <summary>409 (another app owns a host) or 412 (the ETag given to --if-match is stale).</summary>
    public const int Conflict = 5;

    /// <summary>401 or 403: no key, or a wrong one.</summary>
    public const int Unauthorized = 6;

    /// <summary>202 to a write with --wait: stored, but not every live router confirmed serving it in time.</summary>
    public const int Pending = 7;

    public static int ForStatus(int status) => status switch
    {
        >= 200 and < 300 and not 202 => Ok,
        202 => Pending,
        400 or 422 => Invalid,
        401 or 403 => Unauthorized,
        404 => NotFound,
        409 or 412 => Conflict,
        503 => Unreachable,
        _ => Failed,
    };
}
