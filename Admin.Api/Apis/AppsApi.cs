using System.Buffers.Text;
using System.Security.Claims;
using System.Text;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Validation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hipache.Aspire.Admin.Apis;

/// <summary><c>/v1/apps</c>: what a PaaS thinks in, one app with many hostnames and one backend pool.</summary>
internal static class AppsApi
{
    public static RouteGroupBuilder MapAppsApi(this IEndpointRouteBuilder endpoints)
    {
        // Problem results do not carry their status in the endpoint metadata; declared here for the OpenAPI document.
        var group = endpoints.MapGroup("/v1/apps").WithTags("Apps").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/", ListAsync).WithName("ListApps").WithSummary("Pages through apps in name order.");
        // '_' cannot start an app name, so this never shadows one.
        group.MapPost("/_reindex", ReindexAsync).WithName("ReindexApps")
            .WithSummary("Rebuilds the app index from every frontend list (one SCAN walk), e.g. after frontends were written with redis-cli.");
        group.MapGet("/{app}", GetAsync).WithName("GetApp").WithSummary("Reads an app: its hosts and their backends, verified against the frontend lists.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{app}", PutAsync).WithName("PutApp")
            .WithSummary("Sets an app's hosts and backends; hosts dropped are removed, hosts of other apps refused (409) unless takeover=true.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{app}", DeleteAsync).WithName("DeleteApp").WithSummary("Deletes the app and every frontend that is still its.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("/{app}/backends", AddBackendAsync).WithName("AddAppBackend").WithSummary("Appends a backend to every host of the app.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{app}/backends", RemoveBackendAsync).WithName("RemoveAppBackend").WithSummary("Removes a backend (query parameter url) from every host of the app.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    private static async Task<Results<Ok<Page<AppView>>, ValidationProblem>> ListAsync(
        AppRegistry apps, CancellationToken cancellationToken, string? cursor = null, int? limit = null)
    {
        var errors = new Dictionary<string, string[]>();
        if (!TryDecodeCursor(cursor, out var after))
        {
            errors["cursor"] = ["Not a cursor this API returned; start again without one."];
        }

        if (!RouteValidation.TryPageSize(limit, out var size, out var limitError))
        {
            errors["limit"] = [limitError!];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var (items, last, more) = await apps.ListAsync(after, size, cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new Page<AppView>(items, more && last is not null ? Base64Url.EncodeToString(Encoding.UTF8.GetBytes(last)) : null));
    }

    private static async Task<Ok<AppIndexRebuild>> ReindexAsync(AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var rebuilt = await apps.RebuildAsync(cancellationToken).ConfigureAwait(false);
        audit.Record(user, "reindex-apps", "*", $"{rebuilt.HostsIndexed} host(s) of {rebuilt.Apps} app(s)");
        return TypedResults.Ok(rebuilt);
    }

    private static async Task<Results<Ok<AppView>, ProblemHttpResult, ValidationProblem>> GetAsync(string app, AppRegistry apps, CancellationToken cancellationToken)
    {
        if (!RouteValidation.IsValidApp(app, out var error))
        {
            return Problems.Invalid("app", error!);
        }

        var view = await apps.GetAsync(app, cancellationToken).ConfigureAwait(false);
        return view is null ? Problems.NotFound($"No app '{app}'.") : TypedResults.Ok(view);
    }

    private static async Task<Results<Created<AppView>, Ok<AppView>, ProblemHttpResult, ValidationProblem>> PutAsync(
        string app, AppWrite body, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken, bool takeover = false)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.IsValidApp(app, out var appError))
        {
            errors["app"] = [appError!];
        }

        var hosts = RouteValidation.NormalizeHosts(body.Hosts, errors);
        if (body.Hosts is not { Count: > 0 } && !errors.ContainsKey("hosts"))
        {
            // An app is its hosts' frontend lists: with none there is nothing to store, and an empty
            // list by mistake (an unset variable in a script) would remove every host the app has.
            errors["hosts"] = [body.Hosts is null
                ? "Required: the app's hostnames (at least one)."
                : "At least one host; to remove the app and all its hosts, DELETE /v1/apps/{app}."];
        }

        var backends = RouteValidation.NormalizeBackends(body.Backends, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = await apps.PutAsync(app, hosts, backends, takeover, cancellationToken).ConfigureAwait(false);
        var owners = string.Join(' ', result.Owners.Select(o => $"{o.Key}={o.Value}"));
        audit.Record(user, takeover ? "put-app-takeover" : "put-app", app, $"{result.Outcome.ToString().ToLowerInvariant()} {hosts.Count} host(s) {owners}".TrimEnd());
        return result.Outcome switch
        {
            AppPutOutcome.Created => TypedResults.Created($"/v1/apps/{app}", result.View),
            AppPutOutcome.Updated => TypedResults.Ok(result.View),
            _ => TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "Hosts belong to another app",
                detail: result.View is null
                    ? "Nothing was written: some hosts are another app's (see 'owners'). Repeat with ?takeover=true to move them to this app."
                    : "These hosts were claimed by another app while this one was written and were left alone (see 'owners'); the other hosts were written.",
                extensions: new Dictionary<string, object?> { ["owners"] = result.Owners }),
        };
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DeleteAsync(
        string app, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!RouteValidation.IsValidApp(app, out var error))
        {
            return Problems.Invalid("app", error!);
        }

        var deleted = await apps.DeleteAsync(app, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "delete-app", app, deleted is null ? "not-found" : $"deleted {deleted.Hosts.Count} host(s)");
        return deleted is null ? Problems.NotFound($"No app '{app}'.") : TypedResults.NoContent();
    }

    private static async Task<Results<Ok<AppView>, ProblemHttpResult, ValidationProblem>> AddBackendAsync(
        string app, BackendWrite body, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.IsValidApp(app, out var appError))
        {
            errors["app"] = [appError!];
        }

        if (!RouteValidation.TryNormalizeBackend(body.Url, out var url, out var urlError))
        {
            errors["url"] = [urlError!];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var view = await apps.AddBackendAsync(app, url, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "add-app-backend", app, view is null ? "not-found" : $"{url} on {view.Hosts.Count} host(s)");
        return view is null ? Problems.NotFound($"No app '{app}'.") : TypedResults.Ok(view);
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> RemoveBackendAsync(
        string app, string? url, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.IsValidApp(app, out var appError))
        {
            errors["app"] = [appError!];
        }

        if (!RouteValidation.TryNormalizeBackend(url, out var normalized, out var urlError))
        {
            errors["url"] = [urlError!];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var removed = await apps.RemoveBackendAsync(app, normalized, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "remove-app-backend", app, removed is null ? "not-found" : $"{normalized} from {removed} host(s)");
        return removed switch
        {
            null => Problems.NotFound($"No app '{app}'."),
            0 => Problems.NotFound($"No host of app '{app}' has backend '{normalized}'."),
            _ => TypedResults.NoContent(),
        };
    }

    /// <summary>The cursor is the last app name of the previous page, URL-safe base64 so that clients treat it as opaque.</summary>
    private static bool TryDecodeCursor(string? cursor, out string? after)
    {
        after = null;
        if (string.IsNullOrEmpty(cursor))
        {
            return true;
        }

        try
        {
            after = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
        }
        catch (FormatException)
        {
            return false;
        }

        return RouteValidation.IsValidApp(after, out _);
    }
}
