namespace Hipache.Aspire.Router.HealthChecks;

internal enum ProbeTransition
{
    None,
    Down,
    Up,
}

/// <summary>One probed backend's run of results: consecutive failures or passes, and whether it is down.</summary>
internal sealed class ProbeState
{
    private readonly Lock _lock = new();

    public int ConsecutiveFailures { get; private set; }

    public int ConsecutivePasses { get; private set; }

    /// <summary>Healthy until <c>fall</c> failures in a row: a backend is innocent until probed otherwise.</summary>
    public bool IsDown { get; private set; }

    public ProbeTransition Record(bool healthy, int fall, int rise)
    {
        lock (_lock)
        {
            if (healthy)
            {
                ConsecutiveFailures = 0;
                ConsecutivePasses++;
                if (IsDown && ConsecutivePasses >= rise)
                {
                    IsDown = false;
                    return ProbeTransition.Up;
                }

                return ProbeTransition.None;
            }

            ConsecutivePasses = 0;
            ConsecutiveFailures++;
            if (!IsDown && ConsecutiveFailures >= fall)
            {
                IsDown = true;
                return ProbeTransition.Down;
            }

            return ProbeTransition.None;
        }
    }
}
