using System.Net;
using System.Text.RegularExpressions;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>Browser-facing headers on the reference page, the OpenAPI document and the /v1 API.</summary>
public sealed partial class SecurityHeadersTests(AdminApiFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/scalar/v1", null)]
    [InlineData("/openapi/v1.json", null)]
    [InlineData("/v1/frontends", AdminApiFixture.Key)]
    [InlineData("/v1/frontends/missing.headers.test", AdminApiFixture.Key)]
    [InlineData("/v1/frontends", null)]
    public async Task Every_answer_carries_nosniff_deny_no_referrer_and_a_policy(string path, string? key)
    {
        using var client = fixture.CreateClient(key);
        using var response = await client.GetAsync(path, Ct);
        Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound or HttpStatusCode.Unauthorized, $"{path}: {response.StatusCode}");
        Assert.Equal("nosniff", Single(response, "X-Content-Type-Options"));
        Assert.Equal("DENY", Single(response, "X-Frame-Options"));
        Assert.Equal("no-referrer", Single(response, "Referrer-Policy"));
        var policy = Single(response, "Content-Security-Policy");
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/frontends", AdminApiFixture.Key)]
    [InlineData("/v1/apps", AdminApiFixture.Key)]
    [InlineData("/v1/frontends/missing.headers.test", AdminApiFixture.Key)]
    [InlineData("/v1/frontends", null)]
    [InlineData("/v1/frontends", "not-the-key-0123456789abcdef0123456789")]
    public async Task V1_answers_are_never_stored_by_a_cache(string path, string? key)
    {
        using var client = fixture.CreateClient(key);
        using var response = await client.GetAsync(path, Ct);
        Assert.True(response.Headers.CacheControl?.NoStore, $"{path} ({response.StatusCode}): Cache-Control is '{response.Headers.CacheControl}'");
    }

    [Fact]
    public async Task A_v1_answer_with_an_etag_is_still_no_store()
    {
        var host = $"h{Guid.NewGuid():N}.headers.test";
        using var client = fixture.CreateClient();
        using var put = await client.PutAsync($"/v1/frontends/{host}", Json("""{"app":"hdr","backends":["http://10.70.0.1:8080"]}"""), Ct);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.True(put.Headers.CacheControl?.NoStore);
        using var get = await client.GetAsync($"/v1/frontends/{host}", Ct);
        Assert.NotNull(get.Headers.ETag);
        Assert.True(get.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task The_reference_page_policy_admits_its_own_scripts_by_nonce_and_nothing_from_elsewhere()
    {
        using var client = fixture.CreateClient(null);
        using var first = await client.GetAsync("/scalar/v1", Ct);
        var html = await first.Content.ReadAsStringAsync(Ct);
        var policy = Single(first, "Content-Security-Policy");
        var directives = policy.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .ToDictionary(d => d.Split(' ')[0], d => d.Split(' ').Skip(1).ToArray(), StringComparer.Ordinal);

        // Scripts: this origin and the nonce, never inline-by-default or eval.
        var nonce = Assert.Single(directives["script-src"], s => s.StartsWith("'nonce-", StringComparison.Ordinal))["'nonce-".Length..^1];
        Assert.Contains("'self'", directives["script-src"]);
        Assert.DoesNotContain(directives["script-src"], s => s is "'unsafe-inline'" or "'unsafe-eval'" or "*" || s.StartsWith("http", StringComparison.Ordinal));
        // The page fetches its OpenAPI document and sends "try it" requests here, and only here.
        Assert.Equal(["'self'"], directives["connect-src"]);
        Assert.Equal(["'none'"], directives["frame-ancestors"]);

        var scripts = ScriptTag().Matches(html);
        Assert.NotEmpty(scripts);
        foreach (Match script in scripts)
        {
            Assert.Equal(nonce, script.Groups["nonce"].Value);
            if (script.Groups["src"].Success)
            {
                // Served by the package from this origin (there is no CDN to reach).
                var src = script.Groups["src"].Value;
                Assert.False(Uri.TryCreate(src, UriKind.Absolute, out _), $"script {src} is not same-origin");
                using var asset = await client.GetAsync(new Uri(new Uri(client.BaseAddress!, "/scalar/v1"), src), Ct);
                Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
                Assert.Contains("javascript", asset.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            }
        }

        // Nothing on the page points at another origin (fonts, telemetry and proxy are Scalar's servers).
        Assert.DoesNotMatch("https?://", html);
        Assert.Contains("\"withDefaultFonts\":false", html, StringComparison.Ordinal);

        // A nonce is good for one page view only, and the page itself is never cached.
        using var second = await client.GetAsync("/scalar/v1", Ct);
        Assert.NotEqual(policy, Single(second, "Content-Security-Policy"));
        Assert.True(first.Headers.CacheControl?.NoStore);
    }

    private static string Single(HttpResponseMessage response, string name) =>
        Assert.Single(response.Headers.TryGetValues(name, out var values) ? values : response.Content.Headers.TryGetValues(name, out var content) ? content : []);

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    [GeneratedRegex("""<script(?=[^>]*\bnonce="(?<nonce>[^"]*)")?(?=[^>]*\bsrc="(?<src>[^"]*)")?[^>]*>""")]
    private static partial Regex ScriptTag();
}
