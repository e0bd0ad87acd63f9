using System.Diagnostics.Metrics;

namespace Hipache.Aspire.Admin;

/// <summary>The admin API's own instruments. Tags are bounded: never a client address, never anything about a key.</summary>
internal sealed class AdminMetrics
{
    public const string MeterName = "Hipache.Aspire.Admin";

    private static readonly KeyValuePair<string, object?> MissingKey = new("reason", "missing");
    private static readonly KeyValuePair<string, object?> WrongKey = new("reason", "invalid");

    private readonly Counter<long> _authFailures;

    public AdminMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _authFailures = meter.CreateCounter<long>("hipache.admin.auth.failures", "{request}", "Requests refused with 401, by reason (missing or invalid key).");
    }

    public void AuthFailure(bool presentedKey) => _authFailures.Add(1, presentedKey ? WrongKey : MissingKey);
}
