using Hipache.Aspire.TestSupport;

[assembly: AssemblyFixture(typeof(Hipache.Aspire.Router.Tests.RedisFixture))]

namespace Hipache.Aspire.Router.Tests;

/// <summary>One real Redis for the assembly; every test isolates itself with its own key prefix.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public TestRedis Redis { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Redis = await TestRedis.StartAsync();
        TestContext.Current.SendDiagnosticMessage($"Router.Tests use a real {Redis.Kind} on port {Redis.Port}");
    }

    public async ValueTask DisposeAsync() => await Redis.DisposeAsync();
}
