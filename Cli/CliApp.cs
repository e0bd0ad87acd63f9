using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;

namespace Hipache.Aspire.Cli;

/// <summary>
/// <c>hipache</c>: the admin API from a shell. Tables for people, <c>--json</c> (the API's own
/// JSON) for scripts; the exit code says what happened (<see cref="ExitCodes"/>), and an API error
/// is printed from its problem+json (title, detail, each invalid field).
/// </summary>
internal static class CliApp
{
    private static readonly Option<string?> UrlOption = new("--url") { Description = "The admin API, e.g. http://localhost:5080 (env HIPACHE_ADMIN_URL)", Recursive = true };
    private static readonly Option<string?> KeyOption = new("--key") { Description = "An admin API key (env HIPACHE_ADMIN_KEY)", Recursive = true };
    private static readonly Option<string?> ConfigOption = new("--config") { Description = "A JSON file with \"url\" and \"key\" (env HIPACHE_CONFIG; default ~/.config/hipache/cli.json)", Recursive = true };
    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print the API's JSON instead of a table", Recursive = true };

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string, string?> environment, HttpMessageHandler? httpHandler, CancellationToken cancellationToken)
    {
        var root = new RootCommand("Hipache.Aspire admin API from the command line: frontends, backends, apps, dead marks, routers.")
        {
            Frontends(),
            Backends(),
            Apps(),
            Dead(),
            Routers(),
        };
        root.Options.Add(UrlOption);
        root.Options.Add(KeyOption);
        root.Options.Add(ConfigOption);
        root.Options.Add(JsonOption);

        var context = new Context(output, error, environment, httpHandler);
        Contexts.Value = context;
        try
        {
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                foreach (var parseError in parsed.Errors)
                {
                    await error.WriteLineAsync($"error: {parseError.Message}").ConfigureAwait(false);
                }

                return ExitCodes.Invalid;
            }

            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Contexts.Value = null;
        }
    }

    // The writers and environment of the current run (tests run several at once).
    private static readonly AsyncLocal<Context?> Contexts = new();

    private sealed record Context(TextWriter Output, TextWriter Error, Func<string, string?> Environment, HttpMessageHandler? Handler);

    private static Command Frontends()
    {
        var match = new Option<string?>("--match") { Description = "A Redis glob over hosts (default *)" };
        var limit = new Option<int?>("--limit") { Description = "Items per page, 1-1000 (default 100)" };
        var cursor = new Option<string?>("--cursor") { Description = "Where the previous page ended" };
        var all = new Option<bool>("--all") { Description = "Follow every page" };
        var ls = new Command("ls", "List frontends, one page (or --all)") { match, limit, cursor, all };
        ls.SetAction((p, ct) => Run(p, api => ListAsync(api, p, "/v1/frontends", p.GetValue(match), p.GetValue(limit), p.GetValue(cursor), p.GetValue(all), FrontendRow, ct), ct));

        var host = new Argument<string>("host") { Description = "The frontend's host (www.example.com, *.example.com, *)" };
        var get = new Command("get", "Show a frontend: app, backends with dead marks and health, balancing") { host };
        get.SetAction((p, ct) => Run(p, async api =>
        {
            var response = await api.SendAsync(HttpMethod.Get, $"/v1/frontends/{Escape(p.GetValue(host)!)}", null, null, ct).ConfigureAwait(false);
            return await ShowAsync(p, response, body =>
            {
                var o = Contexts.Value!.Output;
                o.WriteLine($"host: {body.GetProperty("host").GetString()}");
                o.WriteLine($"app: {body.GetProperty("app").GetString()}");
                if (body.TryGetProperty("balancing", out var balancing))
                {
                    o.WriteLine($"balancing: {balancing.GetProperty("policy").GetString()}");
                }

                if (response.ETag is not null)
                {
                    o.WriteLine($"etag: {response.ETag}");
                }

                var table = new Table("BACKEND", "DEAD", "DEAD UNTIL", "HEALTH");
                foreach (var backend in body.GetProperty("backends").EnumerateArray())
                {
                    table.Add(
                        backend.GetProperty("url").GetString(),
                        backend.GetProperty("dead").GetBoolean() ? "yes" : "no",
                        Text(backend, "deadUntil"),
                        backend.TryGetProperty("health", out var health) ? (health.GetProperty("healthy").GetBoolean() ? "up" : "down") : string.Empty);
                }

                table.WriteTo(o);
            }).ConfigureAwait(false);
        }, ct));

        var app = new Option<string>("--app") { Description = "The app (identifier) the host belongs to", Required = true };
        var backends = new Option<string[]>("--backend") { Description = "A backend URL; repeat for several, in order", AllowMultipleArgumentsPerToken = false };
        var ifMatch = IfMatchOption();
        var wait = WaitOption();
        var put = new Command("put", "Create or replace a frontend (atomic)") { host, app, backends, ifMatch, wait };
        put.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Put, $"/v1/frontends/{Escape(p.GetValue(host)!)}{WaitQuery(p, wait)}",
            new { app = p.GetValue(app), backends = p.GetValue(backends) ?? [] }, p.GetValue(ifMatch), ct).ConfigureAwait(false), "written").ConfigureAwait(false), ct));

        var rm = new Command("rm", "Delete a frontend and its dead marks") { host, ifMatch, wait };
        rm.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Delete, $"/v1/frontends/{Escape(p.GetValue(host)!)}{WaitQuery(p, wait)}", null, p.GetValue(ifMatch), ct).ConfigureAwait(false), "deleted").ConfigureAwait(false), ct));

        return new Command("frontends", "Hosts and their backend lists") { ls, get, put, rm };
    }

    private static Command Backends()
    {
        var host = new Argument<string>("host") { Description = "The frontend's host" };
        var url = new Argument<string>("url") { Description = "The backend URL" };
        var ifMatch = IfMatchOption();
        var wait = WaitOption();
        var add = new Command("add", "Append a backend to a frontend (no duplicate)") { host, url, ifMatch, wait };
        add.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Post, $"/v1/frontends/{Escape(p.GetValue(host)!)}/backends{WaitQuery(p, wait)}",
            new { url = p.GetValue(url) }, p.GetValue(ifMatch), ct).ConfigureAwait(false), "added").ConfigureAwait(false), ct));
        var rm = new Command("rm", "Remove a backend from a frontend") { host, url, ifMatch, wait };
        rm.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Delete,
            $"/v1/frontends/{Escape(p.GetValue(host)!)}/backends?url={Uri.EscapeDataString(p.GetValue(url)!)}{WaitQuery(p, wait, "&")}", null, p.GetValue(ifMatch), ct).ConfigureAwait(false), "removed").ConfigureAwait(false), ct));
        return new Command("backends", "Add or remove one backend of a frontend") { add, rm };
    }

    private static Command Apps()
    {
        var limit = new Option<int?>("--limit") { Description = "Items per page, 1-1000 (default 100)" };
        var cursor = new Option<string?>("--cursor") { Description = "Where the previous page ended" };
        var all = new Option<bool>("--all") { Description = "Follow every page" };
        var ls = new Command("ls", "List apps, one page (or --all)") { limit, cursor, all };
        ls.SetAction((p, ct) => Run(p, api => ListAsync(api, p, "/v1/apps", null, p.GetValue(limit), p.GetValue(cursor), p.GetValue(all), AppRow, ct), ct));

        var app = new Argument<string>("app") { Description = "The app's name" };
        var get = new Command("get", "Show an app: its hosts and backends") { app };
        get.SetAction((p, ct) => Run(p, async api =>
        {
            var response = await api.SendAsync(HttpMethod.Get, $"/v1/apps/{Escape(p.GetValue(app)!)}", null, null, ct).ConfigureAwait(false);
            return await ShowAsync(p, response, body => new Table("APP", "HOSTS", "BACKENDS").Add(AppRow(body)).WriteTo(Contexts.Value!.Output)).ConfigureAwait(false);
        }, ct));

        var hosts = new Option<string[]>("--host") { Description = "A host of the app; repeat for several", Required = true };
        var backends = new Option<string[]>("--backend") { Description = "A backend URL; repeat for several" };
        var takeover = new Option<bool>("--takeover") { Description = "Take hosts another app (or a Hipache-era tool) owns" };
        var wait = WaitOption();
        var put = new Command("put", "Create or replace an app: every host's list becomes [app, backends...]") { app, hosts, backends, takeover, wait };
        put.SetAction((p, ct) => Run(p, async api =>
        {
            var query = p.GetValue(takeover) ? "?takeover=true" + WaitQuery(p, wait, "&") : WaitQuery(p, wait);
            return await WriteAsync(p, await api.SendAsync(HttpMethod.Put, $"/v1/apps/{Escape(p.GetValue(app)!)}{query}",
                new { hosts = p.GetValue(hosts), backends = p.GetValue(backends) ?? [] }, null, ct).ConfigureAwait(false), "written").ConfigureAwait(false);
        }, ct));
        var rm = new Command("rm", "Delete an app and every frontend that is still its") { app, wait };
        rm.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Delete, $"/v1/apps/{Escape(p.GetValue(app)!)}{WaitQuery(p, wait)}", null, null, ct).ConfigureAwait(false), "deleted").ConfigureAwait(false), ct));
        return new Command("apps", "Apps: a name over several hosts") { ls, get, put, rm };
    }

    private static Command Dead()
    {
        var host = new Argument<string>("host") { Description = "The frontend's host" };
        var ls = new Command("ls", "The frontend's backends marked dead, and until when") { host };
        ls.SetAction((p, ct) => Run(p, async api =>
        {
            var response = await api.SendAsync(HttpMethod.Get, $"/v1/frontends/{Escape(p.GetValue(host)!)}", null, null, ct).ConfigureAwait(false);
            if (response is { IsSuccess: true, Body: { } body } && p.GetValue(JsonOption))
            {
                var dead = body.GetProperty("backends").EnumerateArray().Where(b => b.GetProperty("dead").GetBoolean()).ToArray();
                await Contexts.Value!.Output.WriteLineAsync(JsonSerializer.Serialize(new { host = body.GetProperty("host").GetString(), dead }, Json.Indented)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            return await ShowAsync(p, response, body =>
            {
                var table = new Table("BACKEND", "DEAD UNTIL");
                foreach (var backend in body.GetProperty("backends").EnumerateArray().Where(b => b.GetProperty("dead").GetBoolean()))
                {
                    table.Add(backend.GetProperty("url").GetString(), Text(backend, "deadUntil"));
                }

                table.WriteTo(Contexts.Value!.Output);
            }).ConfigureAwait(false);
        }, ct));
        var wait = WaitOption();
        var clear = new Command("clear", "Clear every dead mark of the frontend") { host, wait };
        clear.SetAction((p, ct) => Run(p, async api => await WriteAsync(p, await api.SendAsync(HttpMethod.Delete, $"/v1/frontends/{Escape(p.GetValue(host)!)}/dead{WaitQuery(p, wait)}", null, null, ct).ConfigureAwait(false), "cleared").ConfigureAwait(false), ct));
        return new Command("dead", "Dead marks of a frontend's backends") { ls, clear };
    }

    private static Command Routers()
    {
        var routers = new Command("routers", "The live routers: addresses, version, store mode, cache size, change lag");
        routers.SetAction((p, ct) => Run(p, async api =>
        {
            var response = await api.SendAsync(HttpMethod.Get, "/v1/routers", null, null, ct).ConfigureAwait(false);
            return await ShowAsync(p, response, body =>
            {
                var table = new Table("ID", "VERSION", "ADDRESSES", "MODE", "CACHED", "LAG MS", "LAST CHANGE");
                foreach (var router in body.GetProperty("routers").EnumerateArray())
                {
                    table.Add(
                        router.GetProperty("id").GetString(),
                        router.GetProperty("version").GetString(),
                        string.Join(" ", router.GetProperty("addresses").EnumerateArray().Select(a => a.GetString())),
                        (router.GetProperty("storeMode").GetString() ?? string.Empty).Split(':')[0],
                        router.GetProperty("cachedRoutes").GetInt64().ToString(CultureInfo.InvariantCulture),
                        router.GetProperty("changeLagMs") is { ValueKind: JsonValueKind.Number } lag ? lag.GetDouble().ToString("0.0", CultureInfo.InvariantCulture) : "no answer",
                        Text(router, "lastChange"));
                }

                table.WriteTo(Contexts.Value!.Output);
            }).ConfigureAwait(false);
        }, ct));
        return routers;
    }

    private static Option<string?> IfMatchOption() => new("--if-match") { Description = "Only if the frontend is still at this ETag (from `frontends get`)" };

    private static Option<string?> WaitOption() => new("--wait") { Description = "Answer once every live router serves the write, up to this long (500ms, 2s)" };

    private static string WaitQuery(ParseResult p, Option<string?> wait, string separator = "?") =>
        p.GetValue(wait) is { } duration ? $"{separator}wait={Uri.EscapeDataString(duration)}" : string.Empty;

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private static string Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : string.Empty;

    private static string?[] FrontendRow(JsonElement item) =>
        [item.GetProperty("host").GetString(), item.GetProperty("app").GetString(), string.Join(", ", item.GetProperty("backends").EnumerateArray().Select(b => b.GetString()))];

    private static string?[] AppRow(JsonElement item) =>
        [item.GetProperty("app").GetString(), string.Join(", ", item.GetProperty("hosts").EnumerateArray().Select(b => b.GetString())), string.Join(", ", item.GetProperty("backends").EnumerateArray().Select(b => b.GetString()))];

    /// <summary>Resolves the settings, runs the call, and turns a transport failure into its exit code.</summary>
    private static async Task<int> Run(ParseResult p, Func<AdminClient, Task<int>> call, CancellationToken ct)
    {
        var context = Contexts.Value!;
        if (!CliSettings.TryResolve(p.GetValue(UrlOption), p.GetValue(KeyOption), p.GetValue(ConfigOption), context.Environment, out var settings, out var problem))
        {
            await context.Error.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
            return ExitCodes.Invalid;
        }

        using var http = context.Handler is null ? new HttpClient() : new HttpClient(context.Handler, disposeHandler: false);
        http.Timeout = TimeSpan.FromSeconds(100);
        try
        {
            return await call(new AdminClient(http, settings!)).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException || ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            await context.Error.WriteLineAsync($"error: cannot reach the admin API at {settings!.Url}: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Unreachable;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            await context.Error.WriteLineAsync($"error: the admin API at {settings!.Url} did not answer within {http.Timeout.TotalSeconds} s").ConfigureAwait(false);
            return ExitCodes.Unreachable;
        }
    }

    private static async Task<int> ListAsync(AdminClient api, ParseResult p, string path, string? match, int? limit, string? cursor, bool all, Func<JsonElement, string?[]> row, CancellationToken ct)
    {
        var context = Contexts.Value!;
        var items = new List<JsonElement>();
        string? next = cursor;
        do
        {
            var query = new List<string>();
            if (match is not null)
            {
                query.Add("match=" + Uri.EscapeDataString(match));
            }

            if (limit is not null)
            {
                query.Add("limit=" + limit.Value.ToString(CultureInfo.InvariantCulture));
            }

            if (next is not null)
            {
                query.Add("cursor=" + Uri.EscapeDataString(next));
            }

            var response = await api.SendAsync(HttpMethod.Get, query.Count == 0 ? path : path + "?" + string.Join("&", query), null, null, ct).ConfigureAwait(false);
            if (!response.IsSuccess || response.Body is not { } body)
            {
                return await FailAsync(p, response).ConfigureAwait(false);
            }

            items.AddRange(body.GetProperty("items").EnumerateArray());
            next = body.TryGetProperty("nextCursor", out var nextCursor) ? nextCursor.GetString() : null;
        }
        while (all && next is not null);

        if (p.GetValue(JsonOption))
        {
            await context.Output.WriteLineAsync(JsonSerializer.Serialize(new { items, nextCursor = next }, Json.Indented)).ConfigureAwait(false);
        }
        else
        {
            var headers = path.EndsWith("apps", StringComparison.Ordinal) ? new[] { "APP", "HOSTS", "BACKENDS" } : ["HOST", "APP", "BACKENDS"];
            var table = new Table(headers);
            foreach (var item in items)
            {
                table.Add(row(item));
            }

            table.WriteTo(context.Output);
            if (next is not null)
            {
                await context.Error.WriteLineAsync($"more: --cursor {next} (or --all)").ConfigureAwait(false);
            }
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> ShowAsync(ParseResult p, ApiResponse response, Action<JsonElement> table)
    {
        if (!response.IsSuccess || response.Body is not { } body)
        {
            return await FailAsync(p, response).ConfigureAwait(false);
        }

        if (p.GetValue(JsonOption))
        {
            await Contexts.Value!.Output.WriteLineAsync(JsonSerializer.Serialize(body, Json.Indented)).ConfigureAwait(false);
        }
        else
        {
            table(body);
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> WriteAsync(ParseResult p, ApiResponse response, string done)
    {
        var context = Contexts.Value!;
        if (!response.IsSuccess)
        {
            return await FailAsync(p, response).ConfigureAwait(false);
        }

        if (p.GetValue(JsonOption))
        {
            await context.Output.WriteLineAsync(response.Body is { } body ? JsonSerializer.Serialize(body, Json.Indented) : "{}").ConfigureAwait(false);
        }
        else
        {
            await context.Output.WriteLineAsync(response.Status == 202 ? "stored, not yet served by every router" : done).ConfigureAwait(false);
            if (response.ETag is not null)
            {
                await context.Output.WriteLineAsync($"etag: {response.ETag}").ConfigureAwait(false);
            }

            if (!string.IsNullOrEmpty(response.RoutersConfirmed))
            {
                await context.Output.WriteLineAsync($"served by: {response.RoutersConfirmed}").ConfigureAwait(false);
            }
        }

        if (response.Status == 202)
        {
            await context.Error.WriteLineAsync($"pending routers: {response.RoutersPending}").ConfigureAwait(false);
        }

        return ExitCodes.ForStatus(response.Status);
    }

    /// <summary>An API error: the problem's title, detail and field errors on stderr (and its JSON on stdout with --json).</summary>
    private static async Task<int> FailAsync(ParseResult p, ApiResponse response)
    {
        var context = Contexts.Value!;
        var message = $"error: {response.Status}";
        if (response.Body is { ValueKind: JsonValueKind.Object } problem)
        {
            message += Text(problem, "title") is { Length: > 0 } title ? $" {title}" : string.Empty;
            message += Text(problem, "detail") is { Length: > 0 } detail ? $": {detail}" : string.Empty;
            if (problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                foreach (var field in errors.EnumerateObject())
                {
                    message += $"{Environment.NewLine}  {field.Name}: {string.Join(" ", field.Value.EnumerateArray().Select(e => e.GetString()))}";
                }
            }

            if (p.GetValue(JsonOption))
            {
                await context.Output.WriteLineAsync(JsonSerializer.Serialize(problem, Json.Indented)).ConfigureAwait(false);
            }
        }

        await context.Error.WriteLineAsync(message).ConfigureAwait(false);
        return ExitCodes.ForStatus(response.Status) is ExitCodes.Ok ? ExitCodes.Failed : ExitCodes.ForStatus(response.Status);
    }
}
