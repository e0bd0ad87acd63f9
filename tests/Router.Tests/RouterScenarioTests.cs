using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Tests that start routers with settings of their own (several per test, some in both modes) on
/// the assembly's Redis, and backends; everything started is stopped with the test, newest first.
/// </summary>
public abstract class RouterScenarioTests(RedisFixture fixture) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected StackExchange.Redis.ConnectionMultiplexer Redis { get; private set; } = null!;

    protected StackExchange.Redis.IDatabase Db => Redis.GetDatabase();

    public async ValueTask InitializeAsync() => Redis = await fixture.Redis.ConnectAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        await Redis.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>A router with <paramref name="defaults"/>, each overridden by <paramref name="settings"/>.</summary>
    internal async Task<RunningRouter> StartRouterAsync(IDictionary<string, string?> defaults, (string Key, string Value)[] settings, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null)
    {
        var all = new Dictionary<string, string?>(defaults);
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var router = await RunningRouter.StartAsync(fixture.Redis, all, configure: configure);
        _owned.Add(router);
        return router;
    }

    protected async Task<TestBackend> StartBackendAsync(string name, RequestDelegate? handler = null)
    {
        var backend = await TestBackend.StartAsync(name, handler);
        _owned.Add(backend);
        return backend;
    }
}
