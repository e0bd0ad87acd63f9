using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Router.Tests;

/// <summary>Starts this build's Router.dll (a project reference: it sits in the test's output) as its own process.</summary>
internal static class RouterProcesses
{
    public static Task<RouterProcess> StartAsync(TestRedis redis, string prefix, IDictionary<string, string>? settings = null) =>
        RouterProcess.StartAsync(typeof(RouterApplication).Assembly.Location, redis, prefix, settings, TestContext.Current.CancellationToken);

    public static Task<RouterProcess> StartAsync(string redisConnectionString, string prefix, IDictionary<string, string>? settings = null) =>
        RouterProcess.StartAsync(typeof(RouterApplication).Assembly.Location, redisConnectionString, prefix, settings, TestContext.Current.CancellationToken);
}
