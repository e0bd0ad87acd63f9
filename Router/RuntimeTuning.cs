namespace Hipache.Aspire.Router;

/// <summary>
/// Process-wide settings that must be in place before the first socket exists. On the small VMs a
/// router runs on, each thread hop costs a context switch whose interrupt handling dominates a
/// proxied request (perf: ~30 % of the router's CPU in the hypervisor's irq-enable path). Socket
/// continuations inlined on the epoll threads, instead of queued to the thread pool, took the
/// native path from ~74 to ~40 us of CPU per request on one core (bench/RESULTS.md). An operator
/// who sets the variable keeps their value (0 turns it off).
/// </summary>
internal static class RuntimeTuning
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Call first thing in Main. Returns whether socket continuations run inline.</summary>
    public static bool Apply()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is not { Length: > 0 })
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        return InlineCompletions;
    }

    public static bool InlineCompletions => Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";
}
