using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.RouteStore;

public static class RouteStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Redis connections, <see cref="RouteReader"/>, <see cref="RouteWriter"/>, <see cref="RouterRegistry"/>, the certificate store and a
    /// <c>redis</c> readiness health check. The connection comes from <c>RouteStore:*</c> or, as
    /// Aspire provides it, <c>ConnectionStrings:{connectionName}</c>.
    /// </summary>
    /// <param name="unreachableStatus">
    /// What the <c>redis</c> check reports while Redis is unreachable: Unhealthy for the admin API
    /// (it cannot work), Degraded for the router (it keeps serving cached routes).
    /// </param>
    public static IHostApplicationBuilder AddRouteStore(this IHostApplicationBuilder builder, string connectionName = "redis", HealthStatus unreachableStatus = HealthStatus.Unhealthy)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<RouteStoreOptions>()
            .Bind(builder.Configuration.GetSection(RouteStoreOptions.SectionName))
            .PostConfigure(options => options.ConnectionString ??= builder.Configuration.GetConnectionString(connectionName))
            .Validate(o => o.Driver.Count > 0 || !string.IsNullOrWhiteSpace(o.ConnectionString),
                $"No Redis is configured: set ConnectionStrings:{connectionName} (ConnectionStrings__{connectionName}), RouteStore:ConnectionString or RouteStore:Driver.")
            .Validate(o => o.OperationTimeout > TimeSpan.Zero && o.ConnectTimeout > TimeSpan.Zero, "RouteStore timeouts must be positive.")
            .Validate(o => o.ReplicaLagBound > TimeSpan.Zero, "RouteStore:ReplicaLagBound must be positive.")
            .ValidateOnStart();

        builder.Services.AddSingleton(sp => RedisConnections.Connect(sp.GetRequiredService<IOptions<RouteStoreOptions>>().Value));
        builder.Services.AddSingleton<RouteReader>();
        builder.Services.AddSingleton<RouteWriter>();
        builder.Services.AddSingleton<RouterRegistry>();
        builder.Services.AddSingleton<IValidateOptions<Certificates.CertificateStoreOptions>, Certificates.CertificateStoreOptionsValidator>();
        builder.Services.AddOptions<Certificates.CertificateStoreOptions>()
            .Bind(builder.Configuration.GetSection(Certificates.CertificateStoreOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<Certificates.PrivateKeyProtector>();
        builder.Services.AddSingleton<Certificates.CertificateStore>();
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", unreachableStatus, ["ready"]);
        return builder;
    }
}
