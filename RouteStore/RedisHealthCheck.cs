using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hipache.Aspire.RouteStore;

/// <summary>Ready only when both the read and the write connection answer a PING.</summary>
internal sealed class RedisHealthCheck(RedisConnections connections) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var read = await connections.Read.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            var write = ReferenceEquals(connections.ReadMultiplexer, connections.WriteMultiplexer)
                ? read
                : await connections.Write.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"Redis {connections.Description}: read {read.TotalMilliseconds:0.0} ms, write {write.TotalMilliseconds:0.0} ms.");
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"Redis {connections.Description} is unreachable.", ex);
        }
    }
}
