using Microsoft.Playwright;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// Debian's chromium through Microsoft.Playwright for the browser tests (a missing browser fails
/// them: .ci/run installs it), and the screenshots they leave for reviewers under
/// artifacts/screenshots at the repository root (or $HIPACHE_ARTIFACTS/screenshots).
/// </summary>
public static class Browser
{
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("HIPACHE_CHROMIUM") ?? "/usr/bin/chromium";
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException($"No chromium at {chromium}: apt-get install chromium (or set HIPACHE_CHROMIUM). The browser tests need it.");
        }

        var playwright = await Playwright.CreateAsync();
        // --no-sandbox: CI runs as root, where chromium refuses its sandbox.
        var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox"] });
        return (playwright, browser);
    }

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        ArgumentNullException.ThrowIfNull(page);
        var directory = Environment.GetEnvironmentVariable("HIPACHE_ARTIFACTS") is { Length: > 0 } artifacts
            ? Path.Combine(artifacts, "screenshots")
            : Path.Combine(RepositoryRoot(), "artifacts", "screenshots");
        Directory.CreateDirectory(directory);
        await page.ScreenshotAsync(new() { Path = Path.Combine(directory, $"{name}.png"), FullPage = true });
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Hipache.Aspire.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? Path.GetTempPath();
    }
}
