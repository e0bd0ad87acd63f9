using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>The body limit is Kestrel's, so this one runs the service on real Kestrel (ephemeral port), not the in-memory test server.</summary>
public sealed class BodyLimitTests(AdminApiFixture fixture)
{
    [Fact]
    public async Task A_body_over_4_mib_is_413_problem_and_writes_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:redis", fixture.Redis.ConnectionString);
            web.UseSetting("RouteStore:KeyPrefix", fixture.Prefix);
            web.UseSetting("Admin:ApiKeys:0", AdminApiFixture.Key);
        });
        // An explicit ephemeral loopback endpoint: with UseKestrel(0) Kestrel was seen binding its default 127.0.0.1:5000 (a clash between parallel tests).
        factory.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        factory.StartServer();
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", AdminApiFixture.Key);

        var host = $"big.b{Guid.NewGuid():N}.test";
        var padding = new string(' ', 5 * 1024 * 1024);
        // Expect: 100-continue, so that the client reads the early 413 instead of failing on a closed upload.
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/frontends/{host}")
        {
            Content = new StringContent($"{{\"app\":\"big\",{padding}\"backends\":[]}}", Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;
        var response = await client.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);

        await using var redis = await fixture.Redis.ConnectAsync();
        Assert.False(await redis.GetDatabase().KeyExistsAsync(fixture.Prefix + "frontend:" + host));

        // Just under the limit is fine.
        using var fits = new StringContent($"{{\"app\":\"big\",{new string(' ', 3 * 1024 * 1024)}\"backends\":[]}}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"/v1/frontends/{host}", fits, ct)).StatusCode);
    }
}
