using System.Reflection;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// This router process as others see it in the registry (<see cref="RouterAnnouncer"/>): an id
/// unique per process, its version and start time, and the last change message it applied.
/// </summary>
internal sealed class RouterInstance
{
    private LastChange? _lastChange;

    public RouterInstance(TimeProvider time)
    {
        // Host name for people, process id and a random suffix for uniqueness (containers share pids).
        Id = $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        StartedAt = time.GetUtcNow();
        Version = typeof(RouterInstance).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(RouterInstance).Assembly.GetName().Version?.ToString()
            ?? "unknown";
        Time = time;
    }

    public string Id { get; }

    public string Version { get; }

    public DateTimeOffset StartedAt { get; }

    private TimeProvider Time { get; }

    /// <summary>The frontend key of the last change message applied, and when (null before the first).</summary>
    public (string Key, DateTimeOffset At)? LastChangeApplied => Volatile.Read(ref _lastChange) is { } last ? (last.Key, last.At) : null;

    public void ChangeApplied(string frontendKey) => Volatile.Write(ref _lastChange, new LastChange(frontendKey, Time.GetUtcNow()));

    private sealed record LastChange(string Key, DateTimeOffset At);
}
