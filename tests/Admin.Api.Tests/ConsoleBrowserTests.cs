using System.Net;
using System.Reflection;
using Hipache.Aspire.TestSupport;
using Microsoft.Playwright;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>
/// The web console in a real browser (Microsoft.Playwright driving Debian's chromium; a missing
/// browser fails the tests) against the real admin API on Kestrel, a real Redis and a real router
/// process: sign in, search, create a frontend and edit its backends and see the router serve each
/// edit, a second editor's stale edit refused with the current state shown, the CSP and no console
/// errors on every page, sign-out. Each page is saved as a screenshot under artifacts/screenshots.
/// </summary>
public sealed class ConsoleBrowserTests : IAsyncLifetime
{
    private static readonly string RouterDll = typeof(ConsoleBrowserTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RouterDll").Value!;

    private readonly AdminApiFixture _service = new();
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri Url => _service.KestrelUrl;

    public async ValueTask InitializeAsync()
    {
        await _service.InitializeAsync();
        // Real Kestrel before any client: the browser needs a port.
        _ = _service.KestrelUrl;
        (_playwright, _browser) = await Browser.LaunchAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _service.DisposeAsync();
    }

    [Fact]
    public async Task Sign_in_search_create_and_edit_a_frontend_and_the_router_serves_each_edit()
    {
        await using var a = await TestBackend.StartAsync("a");
        await using var b = await TestBackend.StartAsync("b");
        await using var router = await RouterProcess.StartAsync(RouterDll, _service.Redis, _service.Prefix, ct: Ct);
        var (page, errors) = await SignedInPageAsync();
        var host = $"console-{Guid.NewGuid():N}"[..20] + ".test";

        await page.FillAsync("#new-host", host);
        await page.FillAsync("#new-app", "shop");
        await page.FillAsync("#new-backends", a.Url);
        await page.ClickAsync("text=Create");
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Created.");
        await ScreenshotAsync(page, "frontend");
        await Poll.UntilAsync(() => GetAsync(router, host), r => r == "backend=a", TimeSpan.FromSeconds(10), "the router to serve the created frontend");

        await page.FillAsync("#url", b.Url);
        await page.ClickAsync("button:text('Add')");
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Backend added.");
        await page.Locator("tr", new() { HasText = a.Url }).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Backend removed.");
        await Poll.UntilAsync(async () => new[] { await GetAsync(router, host), await GetAsync(router, host), await GetAsync(router, host) }, r => r.All(x => x == "backend=b"), TimeSpan.FromSeconds(10), "the router to serve only b");

        // The live request rate: traffic for two seconds, then the page asks the router.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(2.2);
        while (DateTime.UtcNow < until)
        {
            Assert.Equal("backend=b", await GetAsync(router, host));
        }

        await page.ReloadAsync();
        var rate = await page.Locator("#rate strong").TextContentAsync();
        Assert.Matches(@"^[1-9][0-9]* req/s$", rate);
        await Assertions.Expect(page.Locator("#rate")).ToContainTextAsync("1 of 1 routers answered");

        await page.GotoAsync(new Uri(Url, $"/console?match={Uri.EscapeDataString(host[..10] + "*")}").ToString());
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = host })).ToBeVisibleAsync();
        await ScreenshotAsync(page, "frontends");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task A_second_editor_working_from_a_stale_page_is_told_and_shown_the_current_state()
    {
        var host = $"stale-{Guid.NewGuid():N}"[..18] + ".test";
        using (var admin = _service.CreateClient())
        {
            await admin.PutAsync($"/v1/frontends/{host}", System.Net.Http.Json.JsonContent.Create(new { app = "s", backends = new[] { "http://10.0.0.1:8080", "http://10.0.0.2:8080" } }), Ct);
        }

        var (first, _) = await SignedInPageAsync();
        var (second, errors) = await SignedInPageAsync();
        await first.GotoAsync(new Uri(Url, $"/console/frontends/{host}").ToString());
        await second.GotoAsync(new Uri(Url, $"/console/frontends/{host}").ToString());

        await first.FillAsync("#url", "http://10.0.0.3:8080");
        await first.ClickAsync("button:text('Add')");
        await Assertions.Expect(first.GetByRole(AriaRole.Status)).ToHaveTextAsync("Backend added.");

        // The second editor's page still shows the old version: its removal must not apply.
        var response = await second.RunAndWaitForResponseAsync(
            () => second.Locator("tr", new() { HasText = "http://10.0.0.1:8080" }).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync(),
            r => r.Request.Method == "POST");
        Assert.Equal((int)HttpStatusCode.Conflict, response.Status);
        await Assertions.Expect(second.GetByRole(AriaRole.Alert)).ToContainTextAsync("Changed since you opened it");
        await Assertions.Expect(second.Locator("td", new() { HasText = "http://10.0.0.3:8080" })).ToBeVisibleAsync();
        await ScreenshotAsync(second, "conflict");

        // Resolvable: the page now carries the current version, so the same edit goes through.
        await second.Locator("tr", new() { HasText = "http://10.0.0.1:8080" }).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(second.GetByRole(AriaRole.Status)).ToHaveTextAsync("Backend removed.");
        using var check = _service.CreateClient();
        var body = await check.GetStringAsync($"/v1/frontends/{host}", Ct);
        Assert.DoesNotContain("10.0.0.1:8080", body, StringComparison.Ordinal);
        Assert.Contains("10.0.0.3:8080", body, StringComparison.Ordinal);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task Every_page_has_a_strict_csp_and_no_console_errors_and_sign_out_ends_the_session()
    {
        using (var admin = _service.CreateClient())
        {
            await admin.PutAsync("/v1/apps/cspapp", System.Net.Http.Json.JsonContent.Create(new { hosts = new[] { "csp.test" }, backends = new[] { "http://10.0.0.9:8080" } }), Ct);
        }

        var (page, errors) = await SignedInPageAsync();
        foreach (var (path, name) in new[] { ("/console", "frontends-all"), ("/console/frontends/csp.test", "frontend-csp"), ("/console/apps", "apps"), ("/console/routers", "routers") })
        {
            var response = await page.GotoAsync(new Uri(Url, path).ToString());
            Assert.Equal(200, response!.Status);
            var csp = await response.HeaderValueAsync("content-security-policy");
            Assert.StartsWith("default-src 'none'; style-src 'nonce-", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("script-src", csp, StringComparison.Ordinal);
            Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
            Assert.Equal(0, await page.Locator("script").CountAsync());
            await ScreenshotAsync(page, name);
        }

        var cookie = (await page.Context.CookiesAsync()).Single(c => c.Name == "hipache_console");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        await page.ClickAsync("text=Sign out");
        await Assertions.Expect(page).ToHaveURLAsync(new Uri(Url, "/console/login").ToString());
        await page.GotoAsync(new Uri(Url, "/console/apps").ToString());
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/login"));
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task A_wrong_key_is_refused_and_a_form_without_its_antiforgery_token_is_rejected()
    {
        var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(Url, "/console").ToString());
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/login"));
        await page.FillAsync("#key", "not-a-key-0123456789abcdef0123456789");
        var refused = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("button:text('Sign in')"), r => r.Request.Method == "POST");
        Assert.Equal(401, refused.Status);
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("That is not an admin API key.");
        await ScreenshotAsync(page, "sign-in-refused");

        // A cross-site form post (no antiforgery token) gets nowhere, signed in or not.
        using var forged = new HttpClient();
        var post = await forged.PostAsync(new Uri(Url, "/console/login"), new FormUrlEncodedContent(new Dictionary<string, string> { ["Key"] = AdminApiFixture.Key }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
        await context.DisposeAsync();
    }

    private async Task<(IPage Page, List<string> Errors)> SignedInPageAsync()
    {
        var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            // Chromium logs every non-2xx document as an error; the 409 of a refused stale edit is
            // asserted where it is expected. Anything else (a CSP violation, a script error) counts.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource: the server responded with a status of 409", StringComparison.Ordinal))
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(new Uri(Url, "/console/login").ToString());
        await page.FillAsync("#key", AdminApiFixture.Key);
        await page.ClickAsync("button:text('Sign in')");
        await Assertions.Expect(page).ToHaveURLAsync(new Uri(Url, "/console").ToString());
        return (page, errors);
    }

    private static async Task<string> GetAsync(RouterProcess router, string host)
    {
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{router.Port}/"));
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(Ct) : $"{(int)response.StatusCode}";
    }

    private static Task ScreenshotAsync(IPage page, string name) => Browser.ScreenshotAsync(page, "console-" + name);
}
