using System.Security.Cryptography.X509Certificates;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Grpc.Net.Client;
using Hipache.Aspire.DemoBackend.Grpc;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.AppHost.Tests;

/// <summary>
/// The real AppHost, started as `dotnet run --project AppHost` would (without a container
/// engine): every resource healthy, an app registered through Admin.Api with ?wait=, served at
/// once by each of the router replicas (found in the router registry).
/// </summary>
public sealed class EndToEndTests
{
    private const string AdminKey = "e2e-admin-key-0123456789abcdef0123456789";
    private static readonly string[] Resources = ["redis", "router", "admin", "demo-a", "demo-b"];

    [Fact]
    public async Task AppHost_starts_healthy_and_routes_an_app_registered_through_the_admin_api()
    {
        var ct = TestContext.Current.CancellationToken;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(4));

        // With the dashboard, as `dotnet run` has it: the test looks at it in a browser at the end.
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = true }, [$"Parameters:admin-api-key={AdminKey}"], timeout.Token);
        await using var app = await builder.BuildAsync(timeout.Token);
        await app.StartAsync(timeout.Token);

        foreach (var resource in Resources)
        {
            await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
        }

        var redis = builder.Resources.Single(r => r.Name == "redis");
        TestContext.Current.SendDiagnosticMessage($"AppHost Redis resource: {redis.GetType().Name}");

        using var admin = app.CreateHttpClient("admin", "http");
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var demoA = app.GetEndpoint("demo-a", "http").ToString().TrimEnd('/');
        // Every replica announces itself; the write is answered once each one serves it.
        var routers = await ListRoutersAsync(admin, 2, timeout.Token);
        var put = await admin.PutAsJsonAsync("/v1/frontends/e2e.localhost?wait=30s", new { app = "e2e", backends = new[] { demoA } }, timeout.Token);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(2, put.Headers.GetValues("Hipache-Routers-Confirmed").Single().Split(", ").Length);
        using var direct = new HttpClient();
        foreach (var address in routers)
        {
            using var toReplica = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(address), "/hello"));
            toReplica.Headers.Host = "e2e.localhost";
            using var answer = await direct.SendAsync(toReplica, timeout.Token);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.StartsWith("Hello from demo-a", await answer.Content.ReadAsStringAsync(timeout.Token), StringComparison.Ordinal);
        }

        using var router = app.CreateHttpClient("router", "http");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/hello");
        request.Headers.Host = "e2e.localhost";
        using var response = await router.SendAsync(request, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("Hello from demo-a", await response.Content.ReadAsStringAsync(timeout.Token), StringComparison.Ordinal);

        // HTTPS on the router: the dev run's self-signed localhost certificate first, then a tenant's
        // own, uploaded through the admin API and served from the next handshake on.
        var https = app.GetEndpoint("router", "https");
        Assert.Equal("localhost", (await TlsRequestAsync(https, "e2e.localhost", timeout.Token)).Certificate.GetNameInfo(X509NameType.DnsName, false));
        using var ca = new TestCertificates();
        var tenant = ca.Issue(["e2e.localhost"]);
        var upload = await admin.PutAsJsonAsync("/v1/certificates/e2e.localhost?wait=30s", new { certificate = tenant.ChainPem, key = tenant.KeyPem }, timeout.Token);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var (served, body) = await TlsRequestAsync(https, "e2e.localhost", timeout.Token);
        Assert.Equal(tenant.Fingerprint, served.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256));
        Assert.StartsWith("Hello from demo-a", body, StringComparison.Ordinal);

        // gRPC: demo-grpc behind the router as an h2c:// backend, called over the router's HTTPS
        // listener (h2 by ALPN), unary and server streaming.
        await app.ResourceNotifications.WaitForResourceAsync("demo-grpc", KnownResourceStates.Running, timeout.Token);
        var grpcBackend = app.GetEndpoint("demo-grpc", "h2c");
        var grpcPut = await admin.PutAsJsonAsync("/v1/frontends/grpc.localhost?wait=30s",
            new { app = "grpc", backends = new[] { $"h2c://{grpcBackend.Host}:{grpcBackend.Port}" } }, timeout.Token);
        Assert.Equal(HttpStatusCode.Created, grpcPut.StatusCode);
        using (var channel = GrpcChannel.ForAddress($"https://grpc.localhost:{https.Port}", new GrpcChannelOptions { HttpHandler = RouterHandler(https, _ => { }) }))
        {
            var greeter = new Greeter.GreeterClient(channel);
            var reply = await greeter.SayHelloAsync(new HelloRequest { Name = "e2e" }, cancellationToken: timeout.Token);
            Assert.Equal(("Hello e2e", "demo-grpc", "HTTP/2", "https"), (reply.Message, reply.Backend, reply.Protocol, reply.ForwardedProto));
            using var call = greeter.SayHellos(new HelloRequest { Name = "e2e", Count = 3 }, cancellationToken: timeout.Token);
            var streamed = new List<string>();
            while (await call.ResponseStream.MoveNext(timeout.Token))
            {
                streamed.Add(call.ResponseStream.Current.Message);
            }

            Assert.Equal(["Hello e2e #1", "Hello e2e #2", "Hello e2e #3"], streamed);
        }

        // The dashboard's commands on the admin resource go through the admin API.
        var commands = app.Services.GetRequiredService<ResourceCommandService>();
        var listed = await commands.ExecuteCommandAsync("admin", "list-routers", timeout.Token);
        Assert.True(listed.Success, listed.Message);
        Assert.Equal("2 live router(s)", listed.Message);
        var table = await commands.ExecuteCommandAsync("admin", "routing-table", timeout.Token);
        Assert.True(table.Success, table.Message);
        Assert.Equal("2 frontend(s)", table.Message); // e2e.localhost and grpc.localhost
        var cleared = await commands.ExecuteCommandAsync("admin", "clear-dead-marks",
            new InteractionInputCollection([new InteractionInput { Name = "host", InputType = InputType.Text, Value = "e2e.localhost" }]), timeout.Token);
        Assert.True(cleared.Success, cleared.Message);
        var unknown = await commands.ExecuteCommandAsync("admin", "clear-dead-marks",
            new InteractionInputCollection([new InteractionInput { Name = "host", InputType = InputType.Text, Value = "nobody.localhost" }]), timeout.Token);
        Assert.False(unknown.Success);
        Assert.Contains("404", unknown.Message, StringComparison.Ordinal);
        Assert.Equal("Hipache.Aspire", app.Services.GetRequiredService<DistributedApplicationOptions>().DashboardApplicationName);

        using var unauthenticated = app.CreateHttpClient("admin", "http");
        Assert.Equal(HttpStatusCode.Unauthorized, (await unauthenticated.DeleteAsync("/v1/frontends/e2e.localhost", timeout.Token)).StatusCode);

        // The dashboard, titled for the product, listing the router replicas; a screenshot for reviewers.
        var dashboard = await app.GetDashboardUrlAsync(timeout.Token);
        var (playwright, browser) = await Browser.LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync();
            await page.GotoAsync(dashboard.ToString());
            await Microsoft.Playwright.Assertions.Expect(page.GetByText("admin", new() { Exact = true }).First).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await Microsoft.Playwright.Assertions.Expect(page).ToHaveTitleAsync(new System.Text.RegularExpressions.Regex("Hipache\\.Aspire"));
            await Browser.ScreenshotAsync(page, "dashboard-resources");
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    /// <summary>GET /hello over HTTPS with <paramref name="serverName"/> as SNI and Host, to the router's https endpoint: the certificate it got and the body.</summary>
    private static async Task<(X509Certificate2 Certificate, string Body)> TlsRequestAsync(Uri endpoint, string serverName, CancellationToken ct)
    {
        X509Certificate2? seen = null;
        using var client = new HttpClient(RouterHandler(endpoint, certificate => seen = certificate));
        var body = await client.GetStringAsync(new Uri($"https://{serverName}:{endpoint.Port}/hello"), ct);
        return (seen!, body);
    }

    /// <summary>
    /// A handler that connects every URL to the router's <paramref name="endpoint"/> (SNI and Host
    /// are the URL's) and accepts whatever certificate it serves, reporting it: which one was
    /// served is the question here, not trust.
    /// </summary>
    private static SocketsHttpHandler RouterHandler(Uri endpoint, Action<X509Certificate2> served) => new()
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, token);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        },
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null)
                {
                    return false;
                }

                served(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                return true;
            },
        },
    };

    /// <summary>The routed address of each live router once <paramref name="count"/> have announced themselves.</summary>
    private static async Task<string[]> ListRoutersAsync(HttpClient admin, int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var body = await admin.GetFromJsonAsync<JsonElement>("/v1/routers", ct);
            var addresses = body.GetProperty("routers").EnumerateArray()
                .Select(r => r.GetProperty("addresses").EnumerateArray().First().GetString()!).ToArray();
            if (addresses.Length == count || DateTime.UtcNow > deadline)
            {
                Assert.Equal(count, addresses.Length);
                return addresses;
            }

            await Task.Delay(200, ct);
        }
    }
}
