using System.Net.Http.Headers;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hipache.Aspire.AppHost;

/// <summary>
/// Dashboard commands on the admin resource, done through the admin API itself (so they are
/// authenticated, audited and validated like any other call): the routing table, the live
/// routers, and clearing a frontend's dead marks.
/// </summary>
internal static class AdminCommands
{
    private static readonly string[] TableHead = ["| host | app | backends |", "|---|---|---|"];

    public static IResourceBuilder<ProjectResource> WithAdminCommands(this IResourceBuilder<ProjectResource> admin, IResourceBuilder<ParameterResource> adminKey)
    {
        var endpoint = admin.GetEndpoint("http");
        admin.WithCommand("list-routers", "List routers", async context =>
        {
            var (status, body) = await CallAsync(endpoint, adminKey, HttpMethod.Get, "/v1/routers", context.CancellationToken).ConfigureAwait(false);
            if (status != 200)
            {
                return CommandResults.Failure($"GET /v1/routers answered {status}: {body}");
            }

            using var document = JsonDocument.Parse(body);
            var lines = document.RootElement.GetProperty("routers").EnumerateArray().Select(r =>
                $"- {r.GetProperty("id").GetString()} at {string.Join(" ", r.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()))}: " +
                $"{r.GetProperty("storeMode").GetString()?.Split(':')[0]} mode, {r.GetProperty("cachedRoutes").GetInt64()} cached routes, " +
                (r.GetProperty("changeLagMs") is { ValueKind: JsonValueKind.Number } lag ? $"change lag {lag.GetDouble():0.0} ms" : "did not answer its fence")).ToArray();
            return CommandResults.Success($"{lines.Length} live router(s)", string.Join(Environment.NewLine, lines), CommandResultFormat.Markdown, displayImmediately: true);
        }, new CommandOptions
        {
            Description = "The live routers on this Redis, from the router registry (GET /v1/routers).",
            IconName = "Router",
            UpdateState = HealthyOnly,
        });

        admin.WithCommand("routing-table", "Show routing table", async context =>
        {
            var (status, body) = await CallAsync(endpoint, adminKey, HttpMethod.Get, "/v1/frontends?limit=100", context.CancellationToken).ConfigureAwait(false);
            if (status != 200)
            {
                return CommandResults.Failure($"GET /v1/frontends answered {status}: {body}");
            }

            using var document = JsonDocument.Parse(body);
            var items = document.RootElement.GetProperty("items").EnumerateArray().ToArray();
            var rows = items.Select(f =>
                $"| {f.GetProperty("host").GetString()} | {f.GetProperty("app").GetString()} | {string.Join(", ", f.GetProperty("backends").EnumerateArray().Select(b => b.GetString()))} |");
            var more = document.RootElement.TryGetProperty("nextCursor", out _) ? " (first 100; the console and `hipache frontends ls --all` show the rest)" : string.Empty;
            var table = string.Join(Environment.NewLine, TableHead.Concat(rows));
            return CommandResults.Success($"{items.Length} frontend(s){more}", table, CommandResultFormat.Markdown, displayImmediately: true);
        }, new CommandOptions
        {
            Description = "The frontends and their backends (GET /v1/frontends, first 100).",
            IconName = "Table",
            UpdateState = HealthyOnly,
        });

        admin.WithCommand("clear-dead-marks", "Clear dead marks", async context =>
        {
            var host = context.Arguments.GetString("host")?.Trim();
            if (string.IsNullOrEmpty(host))
            {
                return CommandResults.Failure("Give the frontend's host.");
            }

            var (status, body) = await CallAsync(endpoint, adminKey, HttpMethod.Delete, $"/v1/frontends/{Uri.EscapeDataString(host)}/dead", context.CancellationToken).ConfigureAwait(false);
            return status == 204
                ? CommandResults.Success($"Dead marks of {host} cleared: its backends are tried again.")
                : CommandResults.Failure($"DELETE /v1/frontends/{host}/dead answered {status}: {body}");
        }, new CommandOptions
        {
            Description = "Clears every dead mark of a frontend (DELETE /v1/frontends/{host}/dead).",
            IconName = "HeartPulse",
            Arguments = [new InteractionInput { Name = "host", Label = "Frontend host", InputType = InputType.Text, Required = true, Placeholder = "www.example.com" }],
            UpdateState = HealthyOnly,
        });
        return admin;
    }

    private static ResourceCommandState HealthyOnly(UpdateCommandStateContext context) =>
        context.ResourceSnapshot.HealthStatus == HealthStatus.Healthy ? ResourceCommandState.Enabled : ResourceCommandState.Disabled;

    private static async Task<(int Status, string Body)> CallAsync(EndpointReference endpoint, IResourceBuilder<ParameterResource> adminKey, HttpMethod method, string path, CancellationToken cancellationToken)
    {
        var key = await adminKey.Resource.GetValueAsync(cancellationToken).ConfigureAwait(false);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(method, new Uri(new Uri(endpoint.Url), path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }
}
