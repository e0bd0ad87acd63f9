using System.Net.Http.Headers;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Mvc.Testing;

[assembly: AssemblyFixture(typeof(Hipache.Aspire.Admin.Tests.AdminApiFixture))]

namespace Hipache.Aspire.Admin.Tests;

/// <summary>The real Admin.Api (in-process host) on a real Redis.</summary>
public sealed class AdminApiFixture : IAsyncLifetime
{
    public const string Key = "test-key-0123456789abcdef0123456789abcdef";
    public const string SecondKey = "test-key-fedcba9876543210fedcba9876543210";

    /// <summary>The key (AES-256, base64) that protects stored private keys: id <c>test</c>.</summary>
    public static readonly string CertificateKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>Whether the certificate store is on (CertificateStore:Keys:test set).</summary>
    public bool CertificateStore { get; init; } = true;

    private WebApplicationFactory<Program> _factory = null!;

    public TestRedis Redis { get; private set; } = null!;

    /// <summary>For a test's own instance: a Redis it started itself (a cluster, Sentinels) instead of a <see cref="TestRedis"/>.</summary>
    public string? ConnectionString { get; init; }

    public string Prefix { get; } = $"t{Guid.NewGuid():N}:";

    /// <summary>For a test's own instance: more settings or services (CORS origins, a log collector...).</summary>
    public Action<IWebHostBuilder>? Configure { get; init; }

    /// <summary>For a test's own instance: a Redis whose acknowledged writes survive a kill (<see cref="TestRedis.Persistent"/>).</summary>
    public bool PersistentRedis { get; init; }

    /// <summary>The service's container (loggers, meters, options), once a client was created.</summary>
    public IServiceProvider Services => _factory.Services;

    public async ValueTask InitializeAsync()
    {
        if (ConnectionString is null)
        {
            Redis = await TestRedis.StartAsync(PersistentRedis);
            TestContext.Current.SendDiagnosticMessage($"Admin.Api.Tests use a real {Redis.Kind} on port {Redis.Port}");
        }

        var connectionString = ConnectionString ?? Redis.ConnectionString;
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:redis", connectionString);
            web.UseSetting("RouteStore:KeyPrefix", Prefix);
            web.UseSetting("Admin:ApiKeys:0", Key);
            web.UseSetting("Admin:ApiKeys:1", SecondKey);
            if (CertificateStore)
            {
                web.UseSetting("CertificateStore:Keys:test", CertificateKey);
            }
            Configure?.Invoke(web);
        });
    }

    private readonly Lock _kestrelGate = new();
    private Uri? _kestrelUrl;

    /// <summary>The service on real Kestrel, started on first use (for clients outside this process's HttpClient, e.g. the CLI's).</summary>
    public Uri KestrelUrl
    {
        get
        {
            lock (_kestrelGate)
            {
                return _kestrelUrl ??= StartKestrel();
            }
        }
    }

    /// <summary>The service on real Kestrel on an ephemeral loopback port (instead of the in-memory server); call before any client.</summary>
    public Uri StartKestrel()
    {
        // An explicit ephemeral loopback endpoint: with UseKestrel(0) Kestrel was seen binding its default 127.0.0.1:5000 (a clash between parallel tests).
        _factory.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        _factory.StartServer();
        var addresses = _factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return new Uri(addresses.First());
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
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
    }
}
