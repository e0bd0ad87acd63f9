using System.Text.Json;

namespace Hipache.Aspire.Cli;

/// <summary>
/// Where the admin API is and the key to use: a flag, else an environment variable
/// (<c>HIPACHE_ADMIN_URL</c>, <c>HIPACHE_ADMIN_KEY</c>), else the config file (<c>--config</c>,
/// <c>HIPACHE_CONFIG</c>, or <c>~/.config/hipache/cli.json</c>: <c>{ "url": ..., "key": ... }</c>);
/// the URL defaults to the dev run's <c>http://localhost:5080</c>.
/// </summary>
internal sealed record CliSettings(Uri Url, string Key)
{
    public const string DefaultUrl = "http://localhost:5080";

    public static bool TryResolve(string? urlFlag, string? keyFlag, string? configFlag, Func<string, string?> environment, out CliSettings? settings, out string? error)
    {
        settings = null;
        error = null;
        var configPath = configFlag ?? environment("HIPACHE_CONFIG");
        var explicitConfig = configPath is not null;
        configPath ??= Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "hipache", "cli.json");

        string? fileUrl = null;
        string? fileKey = null;
        if (File.Exists(configPath))
        {
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(configPath));
                fileUrl = document.RootElement.TryGetProperty("url", out var url) ? url.GetString() : null;
                fileKey = document.RootElement.TryGetProperty("key", out var key) ? key.GetString() : null;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                error = $"cannot read the config file {configPath}: {ex.Message}";
                return false;
            }
        }
        else if (explicitConfig)
        {
            error = $"the config file {configPath} does not exist";
            return false;
        }

        var urlText = urlFlag ?? environment("HIPACHE_ADMIN_URL") ?? fileUrl ?? DefaultUrl;
        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
        {
            error = $"'{urlText}' is not an http(s) URL of the admin API";
            return false;
        }

        var keyText = keyFlag ?? environment("HIPACHE_ADMIN_KEY") ?? fileKey;
        if (string.IsNullOrWhiteSpace(keyText))
        {
            error = "no admin API key: give --key, set HIPACHE_ADMIN_KEY, or put \"key\" in the config file";
            return false;
        }

        settings = new CliSettings(baseUrl, keyText);
        return true;
    }
}
