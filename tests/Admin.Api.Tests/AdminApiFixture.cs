using System.Net.Http.Headers;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

[assembly: AssemblyFixture(typeof(Hipache.Aspire.Admin.Tests.AdminApiFixture))]

namespace Hipache.Aspire.Admin.Tests;

/// <summary>The real Admin.Api (in-process host) on a real Redis.</summary>
public sealed class AdminApiFixture : IAsyncLifetime
{
    public const string Key = "test-key-0123456789abcdef0123456789abcdef";
    public const string SecondKey = "test-key-fedcba9876543210fedcba9876543210";

    private WebApplicationFactory<Program> _factory = null!;

    public TestRedis Redis { get; private set; } = null!;

    public string Prefix { get; } = $"t{Guid.NewGuid():N}:";

    public async ValueTask InitializeAsync()
    {
        Redis = await TestRedis.StartAsync();
        TestContext.Current.SendDiagnosticMessage($"Admin.Api.Tests use a real {Redis.Kind} on port {Redis.Port}");
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:redis", Redis.ConnectionString);
            web.UseSetting("RouteStore:KeyPrefix", Prefix);
            web.UseSetting("Admin:ApiKeys:0", Key);
            web.UseSetting("Admin:ApiKeys:1", SecondKey);
        });
    }

    public HttpClient CreateClient(string? key = Key)
    {
        var client = _factory.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
