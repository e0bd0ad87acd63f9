using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// Where one Redis connection goes. Built from either a StackExchange.Redis connection string
/// (what Aspire passes as <c>ConnectionStrings__redis</c>) or a Hipache driver URL
/// (<c>redis://:password@host:port/database#prefix</c>, hipache-compat 2.8).
/// </summary>
public sealed record StoreEndpoint(ConfigurationOptions Options, int Database, string Prefix)
{
    private const int DefaultPort = 6379;

    public static StoreEndpoint Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        return value.StartsWith("redis:", StringComparison.OrdinalIgnoreCase) || value.StartsWith("rediss:", StringComparison.OrdinalIgnoreCase)
            ? ParseDriverUrl(value)
            : ParseConnectionString(value);
    }

    private static StoreEndpoint ParseConnectionString(string value)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(value);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException($"'{Redact(value)}' is not a valid Redis connection string: {ex.Message}", ex);
        }

        if (options.EndPoints.Count == 0)
        {
            throw new FormatException($"The Redis connection string '{Redact(value)}' names no server.");
        }

        return new StoreEndpoint(options, options.DefaultDatabase ?? 0, string.Empty);
    }

    /// <summary>Hipache's driver URL: every part optional, so <c>redis:</c> alone means 127.0.0.1:6379.</summary>
    private static StoreEndpoint ParseDriverUrl(string value)
    {
        var rest = value;
        var prefix = string.Empty;
        var hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            prefix = Uri.UnescapeDataString(rest[(hash + 1)..]);
            rest = rest[..hash];
        }

        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        var scheme = rest[..colon].ToLowerInvariant();
        rest = rest[(colon + 1)..];
        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            rest = rest[2..];
        }

        string? database = null;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            database = rest[(slash + 1)..];
            rest = rest[..slash];
        }

        string? password = null;
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            // Hipache: the password is the text after the last ':' of the user info; the user name is ignored.
            var passwordStart = userInfo.LastIndexOf(':');
            password = Uri.UnescapeDataString(passwordStart >= 0 ? userInfo[(passwordStart + 1)..] : userInfo);
            if (password.Length == 0)
            {
                password = null;
            }
        }

        var host = "127.0.0.1";
        var port = DefaultPort;
        if (rest.Length > 0)
        {
            var portSeparator = rest.StartsWith('[') ? rest.IndexOf("]:", StringComparison.Ordinal) + 1 : rest.LastIndexOf(':');
            if (portSeparator > 0)
            {
                if (!int.TryParse(rest.AsSpan(portSeparator + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                {
                    throw new FormatException($"The Redis driver URL '{Redact(value)}' has an invalid port.");
                }

                rest = rest[..portSeparator];
            }

            if (rest.Length > 0)
            {
                host = rest.Trim('[', ']');
            }
        }

        var db = 0;
        if (!string.IsNullOrEmpty(database) && (!int.TryParse(database, NumberStyles.None, CultureInfo.InvariantCulture, out db) || db < 0))
        {
            throw new FormatException($"The Redis driver URL '{Redact(value)}' has an invalid database '{database}'.");
        }

        var options = new ConfigurationOptions
        {
            Password = password,
            DefaultDatabase = db,
            Ssl = scheme == "rediss",
        };
        options.EndPoints.Add(host, port);
        return new StoreEndpoint(options, db, prefix);
    }

    /// <summary>Connection strings may carry passwords: never put one into a message.</summary>
    public static string Redact(string value)
    {
        var at = value.LastIndexOf('@');
        if (value.StartsWith("redis", StringComparison.OrdinalIgnoreCase) && at > 0)
        {
            var schemeEnd = value.IndexOf("//", StringComparison.Ordinal);
            return schemeEnd >= 0 && schemeEnd < at ? string.Concat(value.AsSpan(0, schemeEnd + 2), "***", value.AsSpan(at)) : "***";
        }

        var passwordAt = value.IndexOf("password=", StringComparison.OrdinalIgnoreCase);
        if (passwordAt < 0)
        {
            return value;
        }

        var end = value.IndexOf(',', passwordAt);
        return string.Concat(value.AsSpan(0, passwordAt + "password=".Length), "***", end < 0 ? string.Empty : value.AsSpan(end));
    }
}
