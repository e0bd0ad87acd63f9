using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// Ready only when the read connection answers a PING and the write connection reaches a primary:
/// behind Sentinel, or with replicas configured, a replica still answers PING while no primary takes
/// writes (dead marks, the admin API's writes), and that must show.
/// </summary>
internal sealed class RedisHealthCheck(RedisConnections connections) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var read = await connections.Read.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            var write = await connections.Write.PingAsync(StackExchange.Redis.CommandFlags.DemandMaster).WaitAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"Redis {connections.Description}: read {read.TotalMilliseconds:0.0} ms, write {write.TotalMilliseconds:0.0} ms.");
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"Redis {connections.Description} is unreachable.", ex);
        }
    }
}
