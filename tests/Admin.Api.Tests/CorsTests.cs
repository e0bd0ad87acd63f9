using System.Net;
using Hipache.Aspire.Admin.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>CORS is off unless <c>Admin:Cors:AllowedOrigins</c> names origins, and then only for those.</summary>
public sealed class CorsTests(AdminApiFixture fixture)
{
    private const string Allowed = "https://ui.example.test";
    private const string Other = "https://evil.example.test";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_configured_origins_neither_a_preflight_nor_a_request_gets_cors_headers()
    {
        using var client = fixture.CreateClient();
        using var preflight = await client.SendAsync(Preflight(Allowed, "/v1/frontends/cors.test"), Ct);
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"), $"preflight ({preflight.StatusCode}) was allowed");
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Methods"));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends") { Headers = { { "Origin", Allowed } } };
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task A_configured_origin_gets_cors_headers_and_another_origin_does_not()
    {
        await using var configured = new AdminApiFixture { Configure = web => web.UseSetting("Admin:Cors:AllowedOrigins:0", Allowed) };
        await configured.InitializeAsync();
        // A browser sends no key on a preflight; it must still be answered.
        using var anonymous = configured.CreateClient(null);

        using (var preflight = await anonymous.SendAsync(Preflight(Allowed, "/v1/frontends/cors.test"), Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
            Assert.Equal(Allowed, Assert.Single(preflight.Headers.GetValues("Access-Control-Allow-Origin")));
            var allowedHeaders = string.Join(',', preflight.Headers.GetValues("Access-Control-Allow-Headers"));
            Assert.Contains("Authorization", allowedHeaders, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("If-Match", allowedHeaders, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("PUT", string.Join(',', preflight.Headers.GetValues("Access-Control-Allow-Methods")), StringComparison.Ordinal);
            Assert.False(preflight.Headers.Contains("Access-Control-Allow-Credentials"));
        }

        using (var preflight = await anonymous.SendAsync(Preflight(Other, "/v1/frontends/cors.test"), Ct))
        {
            Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using var client = configured.CreateClient();
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends") { Headers = { { "Origin", Allowed } } })
        using (var response = await client.SendAsync(request, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Allowed, Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Contains("ETag", string.Join(',', response.Headers.GetValues("Access-Control-Expose-Headers")), StringComparison.OrdinalIgnoreCase);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/frontends") { Headers = { { "Origin", Other } } })
        using (var response = await client.SendAsync(request, Ct))
        {
            Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        }
    }

    [Theory]
    [InlineData("https://ui.example.test/", false)]
    [InlineData("https://ui.example.test/admin", false)]
    [InlineData("ftp://ui.example.test", false)]
    [InlineData("ui.example.test", false)]
    [InlineData("https://user@ui.example.test", false)]
    [InlineData("https://ui.example.test?x=1", false)]
    [InlineData("https://ui.example.test", true)]
    [InlineData("http://localhost:5173", true)]
    [InlineData("*", true)]
    public void Origins_are_checked(string origin, bool valid)
    {
        var options = new AdminCorsOptions { AllowedOrigins = { origin } };
        Assert.Equal(valid, new AdminCorsOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void A_wildcard_with_credentials_is_refused_and_named_origins_with_credentials_are_not()
    {
        var validator = new AdminCorsOptionsValidator();
        var wildcard = validator.Validate(null, new AdminCorsOptions { AllowedOrigins = { "*" }, AllowCredentials = true });
        Assert.True(wildcard.Failed);
        Assert.Contains("AllowCredentials", wildcard.FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new AdminCorsOptions { AllowedOrigins = { Allowed }, AllowCredentials = true }).Succeeded);
    }

    [Fact]
    public async Task A_bad_origin_stops_the_service_at_start()
    {
        await using var misconfigured = new AdminApiFixture { Configure = web => web.UseSetting("Admin:Cors:AllowedOrigins:0", "https://ui.example.test/admin/") };
        await misconfigured.InitializeAsync();
        var error = Assert.Throws<OptionsValidationException>(() => misconfigured.CreateClient());
        Assert.Contains("Admin:Cors:AllowedOrigins:0", error.Message, StringComparison.Ordinal);
    }

    private static HttpRequestMessage Preflight(string origin, string path) => new(HttpMethod.Options, path)
    {
        Headers =
        {
            { "Origin", origin },
            { "Access-Control-Request-Method", "PUT" },
            { "Access-Control-Request-Headers", "authorization,content-type" },
        },
    };
}
