using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// One router on the assembly's Redis per test, a Redis connection to write routes with, and
/// backends that are stopped with the test.
/// </summary>
public abstract class RouterTestBase(RedisFixture fixture) : IAsyncLifetime
{
    private readonly List<TestBackend> _backends = [];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected RedisFixture Fixture => fixture;

    internal RunningRouter Router { get; private set; } = null!;

    protected StackExchange.Redis.ConnectionMultiplexer Redis { get; private set; } = null!;

    protected StackExchange.Redis.IDatabase Db => Redis.GetDatabase();

    public virtual async ValueTask InitializeAsync()
    {
        // A cache TTL longer than any test: what a test sees change, a message made it change.
        Router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?>
        {
            ["Router:RouteCacheTtl"] = "00:10:00",
            ["Router:MaxStaleness"] = "00:10:00",
        });
        Redis = await fixture.Redis.ConnectAsync();
    }

    public virtual async ValueTask DisposeAsync()
    {
        await Router.DisposeAsync();
        await Redis.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>A backend that lives as long as the test.</summary>
    protected async Task<TestBackend> BackendAsync(string name, RequestDelegate? handler = null)
    {
        var backend = await TestBackend.StartAsync(name, handler);
        _backends.Add(backend);
        return backend;
    }

    /// <summary>Stops a backend before the test ends (a refusing backend, for instance).</summary>
    protected async Task StopAsync(TestBackend backend)
    {
        _backends.Remove(backend);
        await backend.DisposeAsync();
    }
}
