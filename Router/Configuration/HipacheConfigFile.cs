using System.Globalization;
using System.Text.Json;

namespace Hipache.Aspire.Router.Configuration;

/// <summary>
/// Reads Hipache's own configuration file (hipache-compat section 8) so that
/// <c>Router --config hipache.json</c> is a drop-in replacement, and turns it into this router's
/// settings (<c>Router:*</c>, <c>RouteStore:Driver</c>). Environment variables and the command
/// line still override it. Legacy 0.3 keys are mapped with a warning; keys a single process
/// cannot honour are reported once.
/// </summary>
internal sealed class HipacheConfigFile
{
    private HipacheConfigFile(string path, Dictionary<string, string?> settings, List<string> notes)
    {
        Path = path;
        Settings = settings;
        Notes = notes;
    }

    public string Path { get; }

    /// <summary>The resolved settings, as configuration keys.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    /// <summary>Warnings to log once: legacy keys, ignored keys.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The file named by <c>-c</c>/<c>--config</c>, else null.</summary>
    public static string? FindPath(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-c" or "--config" && i + 1 < args.Length)
            {
                return args[i + 1];
            }

            if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                return args[i]["--config=".Length..];
            }
        }

        return null;
    }

    /// <summary>Arguments without Hipache's own flags, for ASP.NET Core's command-line configuration.</summary>
    public static string[] StripOwnArguments(string[] args)
    {
        var rest = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-c" or "--config")
            {
                i++;
                continue;
            }

            if (args[i].StartsWith("--config=", StringComparison.Ordinal) || args[i] is "-d" or "--dry")
            {
                continue;
            }

            rest.Add(args[i]);
        }

        return [.. rest];
    }

    public static HipacheConfigFile Load(string path, bool hasConnectionString)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read the Hipache configuration file '{path}': {ex.Message}", ex);
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The Hipache configuration file '{path}' is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            var notes = new List<string>();
            var root = document.RootElement;
            var server = Object(root, "server");
            var http = Object(root, "http");
            var https = Object(root, "https");

            MapServer(server, settings, notes);

            // Legacy 0.3 keys (hipache-compat 8.3).
            int? legacyPort = server is { } s1 && s1.TryGetProperty("port", out var lp) ? Int(lp, "server.port") : null;
            JsonElement? legacyAddress = server is { } s2 && s2.TryGetProperty("address", out var la) ? la : null;
            JsonElement? legacyHttps = server is { } s3 && s3.TryGetProperty("https", out var lh) && lh.ValueKind == JsonValueKind.Object ? lh : null;
            if (legacyPort is not null)
            {
                notes.Add("server.port is a Hipache 0.3 key: read as http.port.");
            }

            if (legacyAddress is not null)
            {
                notes.Add("server.address is a Hipache 0.3 key: read as http.bind (and https.bind when that is not given).");
            }

            var httpPort = http is { } h && h.TryGetProperty("port", out var hp) ? Int(hp, "http.port") : legacyPort ?? 80;
            var httpBinds = http is { } h2 && h2.TryGetProperty("bind", out var hb) ? hb : legacyAddress;
            var urls = Binds(httpBinds, httpPort, ["127.0.0.1"]);
            for (var i = 0; i < urls.Count; i++)
            {
                settings[$"Router:Urls:{i}"] = $"http://{UrlHost(urls[i].Address)}:{urls[i].Port}";
            }

            if (https is null && legacyHttps is not null)
            {
                https = legacyHttps;
                notes.Add("server.https is a Hipache 0.3 key: read as https.");
            }

            if (https is { } tls)
            {
                var httpsPort = tls.TryGetProperty("port", out var sp) ? Int(sp, "https.port") : 443;
                JsonElement? httpsBindElement = tls.TryGetProperty("bind", out var sb) ? sb : legacyAddress;
                IReadOnlyList<string> defaults = [];
                if (httpsBindElement is null && legacyHttps is not null)
                {
                    // Q24: Hipache master silently skipped this listener; 0.3 listened everywhere.
                    defaults = ["::"];
                    notes.Add("server.https has no address: listening on every address, as Hipache 0.3 did (master skipped HTTPS silently).");
                }

                var binds = BindObjects(httpsBindElement, httpsPort, defaults);
                for (var i = 0; i < binds.Count; i++)
                {
                    var (address, port, entry) = binds[i];
                    var prefix = $"Router:Tls:{i}:";
                    settings[prefix + "Address"] = address;
                    settings[prefix + "Port"] = port.ToString(CultureInfo.InvariantCulture);
                    // Own value or global value, as Hipache inherits them.
                    settings[prefix + "Cert"] = StringOf(entry, "cert") ?? StringOf(tls, "cert") ?? throw new InvalidOperationException($"https bind {address}:{port} has no cert (https.cert).");
                    var key = StringOf(entry, "key");
                    settings[prefix + "Key"] = key ?? StringOf(tls, "key") ?? throw new InvalidOperationException($"https bind {address}:{port} has no key (https.key).");
                    settings[prefix + "Passphrase"] = StringOf(entry, "passphrase") ?? (key is null ? StringOf(tls, "passphrase") : null);
                    var ca = Strings(entry, "ca") ?? Strings(tls, "ca") ?? [];
                    for (var c = 0; c < ca.Count; c++)
                    {
                        settings[$"{prefix}Ca:{c}"] = ca[c];
                    }
                }

                foreach (var ignored in new[] { "secureProtocol", "secureOptions", "ciphers", "honorCipherOrder" })
                {
                    if (tls.TryGetProperty(ignored, out _))
                    {
                        notes.Add($"https.{ignored} is OpenSSL-specific and ignored: the platform's TLS 1.2+ defaults are used.");
                    }
                }
            }

            if (root.TryGetProperty("driver", out var driver))
            {
                var drivers = driver.ValueKind == JsonValueKind.Array ? [.. driver.EnumerateArray().Select(d => d.GetString() ?? string.Empty)] : new List<string> { driver.GetString() ?? string.Empty };
                for (var i = 0; i < drivers.Count; i++)
                {
                    if (!drivers[i].StartsWith("redis:", StringComparison.OrdinalIgnoreCase) && !drivers[i].StartsWith("rediss:", StringComparison.OrdinalIgnoreCase))
                    {
                        throw new InvalidOperationException($"driver '{drivers[i]}': only the redis driver is supported.");
                    }

                    settings[$"RouteStore:Driver:{i}"] = drivers[i];
                }
            }
            else if (!hasConnectionString)
            {
                settings["RouteStore:Driver:0"] = "redis:";
            }

            foreach (var ignored in new[] { "user", "group" })
            {
                if (root.TryGetProperty(ignored, out _))
                {
                    notes.Add($"{ignored} is ignored: run the router unprivileged with the capability to bind low ports (CAP_NET_BIND_SERVICE).");
                }
            }

            return new HipacheConfigFile(System.IO.Path.GetFullPath(path), settings, notes);
        }
    }

    private static void MapServer(JsonElement? server, Dictionary<string, string?> settings, List<string> notes)
    {
        if (server is not { } s)
        {
            return;
        }

        foreach (var property in s.EnumerateObject())
        {
            var v = property.Value;
            switch (property.Name)
            {
                case "debug":
                    settings["Router:Debug"] = Bool(v).ToString();
                    break;
                case "maxSockets":
                    settings["Router:MaxSockets"] = Int(v, "server.maxSockets").ToString(CultureInfo.InvariantCulture);
                    break;
                case "tcpTimeout":
                    settings["Router:TcpTimeout"] = TimeSpan.FromSeconds(Int(v, "server.tcpTimeout")).ToString("c", CultureInfo.InvariantCulture);
                    break;
                case "deadBackendTTL":
                    settings["Router:DeadBackendTtl"] = TimeSpan.FromSeconds(Int(v, "server.deadBackendTTL")).ToString("c", CultureInfo.InvariantCulture);
                    break;
                case "retryOnError":
                    settings["Router:RetryOnError"] = Int(v, "server.retryOnError").ToString(CultureInfo.InvariantCulture);
                    break;
                case "accessLog":
                    settings["Router:AccessLog"] = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    break;
                case "httpKeepAlive":
                    settings["Router:HttpKeepAlive"] = Bool(v).ToString();
                    break;
                case "staticDir":
                    settings["Router:StaticDir"] = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    break;
                case "workers":
                    notes.Add("server.workers is ignored: one process serves every connection.");
                    break;
                case "deadBackendOn500":
                    notes.Add("server.deadBackendOn500 is ignored, as in Hipache 0.3+: a 500 never marks a backend dead.");
                    break;
                case "lruCache":
                    notes.Add("server.lruCache is ignored: the route cache is always on and kept true by change messages (Router:RouteCacheSize, Router:RouteCacheTtl).");
                    break;
                case "port" or "address" or "https":
                    break;
                default:
                    notes.Add($"server.{property.Name} is not a Hipache setting and is ignored.");
                    break;
            }
        }
    }

    private static List<(string Address, int Port)> Binds(JsonElement? binds, int defaultPort, IReadOnlyList<string> defaults) =>
        [.. BindObjects(binds, defaultPort, defaults).Select(b => (b.Address, b.Port))];

    /// <summary>An address, a list of addresses, or a list of <c>{address, port, ...}</c> objects.</summary>
    private static List<(string Address, int Port, JsonElement? Entry)> BindObjects(JsonElement? binds, int defaultPort, IReadOnlyList<string> defaults)
    {
        var result = new List<(string, int, JsonElement?)>();
        if (binds is not { } b)
        {
            result.AddRange(defaults.Select(d => (d, defaultPort, (JsonElement?)null)));
            return result;
        }

        var entries = b.ValueKind == JsonValueKind.Array ? [.. b.EnumerateArray()] : new List<JsonElement> { b };
        foreach (var entry in entries)
        {
            if (entry.ValueKind == JsonValueKind.String)
            {
                result.Add((entry.GetString()!, defaultPort, null));
            }
            else if (entry.ValueKind == JsonValueKind.Object)
            {
                var address = StringOf(entry, "address") ?? "0.0.0.0";
                var port = entry.TryGetProperty("port", out var p) ? Int(p, "bind port") : defaultPort;
                result.Add((address, port, entry));
            }
        }

        return result;
    }

    private static string UrlHost(string address) => address switch
    {
        "0.0.0.0" or "::" or "*" => "*",
        _ when address.Contains(':', StringComparison.Ordinal) && !address.StartsWith('[') => $"[{address}]",
        _ => address,
    };

    private static JsonElement? Object(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value : null;

    private static string? StringOf(JsonElement? element, string name) =>
        element is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static List<string>? Strings(JsonElement? element, string name)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e || !e.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => [value.GetString()!],
            JsonValueKind.Array => [.. value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!)],
            _ => null,
        };
    }

    private static int Int(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) ? number
        : value.ValueKind == JsonValueKind.String && int.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out number) ? number
        : throw new InvalidOperationException($"{name} must be a whole number (is {value}).");

    private static bool Bool(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False or JsonValueKind.Null => false,
        JsonValueKind.Number => value.GetDouble() != 0,
        JsonValueKind.String => value.GetString() is { Length: > 0 } text && text != "false" && text != "0",
        _ => true,
    };
}
