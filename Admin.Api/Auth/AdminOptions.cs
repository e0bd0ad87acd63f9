using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Auth;

/// <summary>Bound from <c>Admin</c>: the API keys accepted as <c>Authorization: Bearer &lt;key&gt;</c>, and how refusals are reported.</summary>
public sealed class AdminOptions
{
    public const string SectionName = "Admin";

    /// <summary>Shortest key accepted: 128 bits of hex, so that keys cannot be guessed online.</summary>
    public const int MinimumKeyLength = 32;

    /// <summary>Several keys, so that one can be rotated while the other still works.</summary>
    public IList<string> ApiKeys { get; } = [];

    /// <summary>
    /// Refused requests (401) are counted and logged as one warning per interval, not one line
    /// each: a key-guessing run cannot flood the log, and still shows up within the interval.
    /// </summary>
    public TimeSpan FailedAuthLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest <c>?wait=</c> a write may ask for (the request holds a connection that long).</summary>
    public TimeSpan MaxWriteWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>GET /v1/routers</c> waits for each router's answer to its fence (the change lag it shows).</summary>
    public TimeSpan RouterProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
}

internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        var errors = new List<string>();
        if (options.ApiKeys.Count == 0)
        {
            errors.Add("Admin:ApiKeys is empty: set at least one key (e.g. Admin__ApiKeys__0=<32+ characters>); the API refuses to run open.");
        }

        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            if (options.ApiKeys[i].Length < AdminOptions.MinimumKeyLength)
            {
                // The key itself is never printed.
                errors.Add($"Admin:ApiKeys:{i} is shorter than {AdminOptions.MinimumKeyLength} characters.");
            }
        }

        if (options.FailedAuthLogInterval < TimeSpan.FromSeconds(1) || options.FailedAuthLogInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"Admin:FailedAuthLogInterval is {options.FailedAuthLogInterval}: use 00:00:01 to 01:00:00.");
        }

        if (options.MaxWriteWait < TimeSpan.FromMilliseconds(1) || options.MaxWriteWait > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Admin:MaxWriteWait is {options.MaxWriteWait}: use 00:00:00.001 to 00:05:00.");
        }

        if (options.RouterProbeTimeout < TimeSpan.FromMilliseconds(10) || options.RouterProbeTimeout > TimeSpan.FromSeconds(30))
        {
            errors.Add($"Admin:RouterProbeTimeout is {options.RouterProbeTimeout}: use 00:00:00.010 to 00:00:30.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
