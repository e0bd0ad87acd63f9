using System.Security.Claims;
using Hipache.Aspire.Admin.Apps;
using Hipache.Aspire.Admin.Http;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hipache.Aspire.Admin.Apis;

/// <summary><c>/v1/frontends</c>: one Hipache <c>frontend:&lt;host&gt;</c> list per resource.</summary>
internal static class FrontendsApi
{
    public static RouteGroupBuilder MapFrontendsApi(this IEndpointRouteBuilder endpoints)
    {
        // Problem results do not carry their status in the endpoint metadata; declared here for the OpenAPI document.
        var group = endpoints.MapGroup("/v1/frontends").WithTags("Frontends").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/", ListAsync).WithName("ListFrontends").WithSummary("Pages through frontends (Redis SCAN) whose host matches a glob.");
        group.MapGet("/{host}", GetAsync).WithName("GetFrontend").WithSummary("Reads one frontend with its backends and their dead marks.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{host}", PutAsync).WithName("PutFrontend").WithSummary("Creates or replaces a frontend atomically.")
            .ProducesProblem(StatusCodes.Status412PreconditionFailed);
        group.MapDelete("/{host}", DeleteAsync).WithName("DeleteFrontend").WithSummary("Deletes a frontend and its dead marks.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status412PreconditionFailed);
        group.MapPost("/{host}/backends", AddBackendAsync).WithName("AddBackend").WithSummary("Appends a backend; adding one already present changes nothing.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status412PreconditionFailed);
        group.MapDelete("/{host}/backends", RemoveBackendAsync).WithName("RemoveBackend").WithSummary("Removes a backend (query parameter url).")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status412PreconditionFailed);
        group.MapDelete("/{host}/dead", ClearDeadAsync).WithName("ClearDeadMarks").WithSummary("Clears every dead mark of the frontend: its backends are tried again at once.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{host}/balancing", GetBalancingAsync).WithName("GetBalancing").WithSummary("Reads how requests are spread over the frontend's backends.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{host}/balancing", PutBalancingAsync).WithName("PutBalancing").WithSummary("Sets the balancing policy: random, round-robin, least-requests, weighted or hash.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{host}/balancing", DeleteBalancingAsync).WithName("DeleteBalancing").WithSummary("Goes back to Hipache's random choice.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{host}/https", GetHttpsAsync).WithName("GetHttps").WithSummary("Reads the frontend's HTTPS redirect and HSTS settings.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{host}/https", PutHttpsAsync).WithName("PutHttps").WithSummary("Redirects plain HTTP to HTTPS (308) and/or sends Strict-Transport-Security over HTTPS.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("/{host}/https", DeleteHttpsAsync).WithName("DeleteHttps").WithSummary("Neither redirect nor HSTS (Hipache's behaviour).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    private static async Task<Results<Ok<HttpsSettings>, ProblemHttpResult, ValidationProblem>> GetHttpsAsync(
        string host, RouteReader reader, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        return TypedResults.Ok(ViewOf((await reader.GetBalancingAsync(key, cancellationToken).ConfigureAwait(false)).Https));
    }

    private static async Task<Results<Ok<HttpsSettings>, ProblemHttpResult, ValidationProblem>> PutHttpsAsync(
        string host, HttpsSettings body, RouteReader reader, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var hostError))
        {
            errors["host"] = [hostError!];
        }

        var https = RouteValidation.ReadHttps(body, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        await writer.SetHttpsAsync(key, https!, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "put-https", key, $"redirect={https!.Redirect} hsts={https.Hsts ?? "off"}");
        return TypedResults.Ok(ViewOf(https));
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DeleteHttpsAsync(
        string host, RouteReader reader, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        await writer.SetHttpsAsync(key, HttpsPolicy.None, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "delete-https", key, "off");
        return TypedResults.NoContent();
    }

    private static HttpsSettings ViewOf(HttpsPolicy https)
    {
        if (https.Hsts is not { } hsts)
        {
            return new HttpsSettings(https.Redirect, null);
        }

        var (maxAge, subDomains, preload) = HttpsPolicy.ParseHsts(hsts);
        return new HttpsSettings(https.Redirect, new HstsSettings(maxAge, subDomains, preload));
    }

    private static async Task<Results<Ok<BalancingView>, ProblemHttpResult, ValidationProblem>> GetBalancingAsync(
        string host, RouteReader reader, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        return TypedResults.Ok(ViewOf(await reader.GetBalancingAsync(key, cancellationToken).ConfigureAwait(false)));
    }

    private static async Task<Results<Ok<BalancingView>, ProblemHttpResult, ValidationProblem>> PutBalancingAsync(
        string host, BalancingWrite body, RouteReader reader, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var hostError))
        {
            errors["host"] = [hostError!];
        }

        var balancing = RouteValidation.ReadBalancing(body, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        // Settings of a frontend that does not exist would wait for whoever creates one by that
        // name; a deleted frontend's settings go with it.
        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        await writer.SetBalancingAsync(key, balancing!, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "put-balancing", key, Balancing.Name(balancing!.Policy));
        return TypedResults.Ok(ViewOf(balancing!));
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DeleteBalancingAsync(
        string host, RouteReader reader, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        await writer.SetBalancingAsync(key, Balancing.Default, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "delete-balancing", key, "random");
        return TypedResults.NoContent();
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> ClearDeadAsync(
        string host, RouteReader reader, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (await reader.GetFrontendAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        var cleared = await writer.ClearAllDeadAsync(key, cancellationToken).ConfigureAwait(false);
        audit.Record(user, "clear-dead", key, cleared ? "cleared" : "none");
        return TypedResults.NoContent();
    }

    private static BalancingView ViewOf(Balancing balancing) => new(
        Balancing.Name(balancing.Policy),
        balancing.HashOn,
        balancing.Policy == BalancingPolicy.Weighted ? balancing.Weights : null,
        balancing.StickyCookie,
        balancing.SlowStart > TimeSpan.Zero ? (int)balancing.SlowStart.TotalSeconds : null,
        balancing.HealthPath);

    private static async Task<Results<Ok<Page<FrontendSummary>>, ValidationProblem>> ListAsync(
        RouteReader reader, CancellationToken cancellationToken, string? match = null, string? cursor = null, int? limit = null)
    {
        var errors = new Dictionary<string, string[]>();
        match ??= "*";
        if (!RouteValidation.IsValidMatch(match, out var matchError))
        {
            errors["match"] = [matchError!];
        }

        if (!ScanPosition.TryDecode(cursor, out var position))
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

        var page = await reader.ScanFrontendsAsync(match, position, size, cancellationToken).ConfigureAwait(false);
        var items = page.Items.Select(f => new FrontendSummary(f.Key, f.Identifier, f.Backends)).ToArray();
        return TypedResults.Ok(new Page<FrontendSummary>(items, page.Next?.Encode()));
    }

    private static async Task<Results<Ok<FrontendView>, StatusCodeHttpResult, ProblemHttpResult, ValidationProblem>> GetAsync(
        string host, HttpContext http, RouteReader reader, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        var tagged = await reader.GetTaggedFrontendAsync(key, cancellationToken).ConfigureAwait(false);
        if (tagged is null)
        {
            return Problems.NotFound($"No frontend '{key}'.");
        }

        http.Response.Headers.ETag = EntityTags.Format(tagged.Tag);
        if (EntityTags.IfNoneMatchHits(http.Request, tagged.Tag))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        var frontend = tagged.Frontend;
        var (dead, expiresAt) = await reader.GetDeadAsync(key, cancellationToken).ConfigureAwait(false);
        var balancing = await reader.GetBalancingAsync(key, cancellationToken).ConfigureAwait(false);
        var probes = await reader.GetProbeResultsAsync([.. frontend.Backends.Select(url => Balancing.ProbeTarget(url, balancing.HealthPath))], cancellationToken).ConfigureAwait(false);
        var backends = frontend.Backends.Select((url, i) => new BackendView(url, dead.Contains(i), dead.Contains(i) ? expiresAt : null, probes[i])).ToArray();
        return TypedResults.Ok(new FrontendView(key, frontend.Identifier, backends, ViewOf(balancing)));
    }

    private static async Task<Results<Created<FrontendView>, Ok<FrontendView>, ProblemHttpResult, ValidationProblem>> PutAsync(
        string host, FrontendWrite body, HttpContext http, RouteReader reader, RouteWriter writer, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!EntityTags.TryReadIfMatch(http.Request, out var ifMatch))
        {
            errors["If-Match"] = [EntityTags.InvalidHeader];
        }

        if (!RouteValidation.TryNormalizeHost(host, out var key, out var hostError))
        {
            errors["host"] = [hostError!];
        }

        if (!RouteValidation.IsValidApp(body.App, out var appError))
        {
            errors["app"] = [appError!];
        }

        var backends = RouteValidation.NormalizeBackends(body.Backends, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = await writer.WriteFrontendAsync(key, body.App!, backends, new FrontendCondition(ifMatch, null), cancellationToken).ConfigureAwait(false);
        audit.Record(user, "put-frontend", key, result.Outcome);
        if (result.Outcome == FrontendOutcome.PreconditionFailed)
        {
            return Problems.PreconditionFailed(key);
        }

        await apps.TrackAsync(key, body.App!, result.PreviousIdentifier, cancellationToken).ConfigureAwait(false);
        http.Response.Headers.ETag = EntityTags.Format(result.Tag!);

        // A changed list has lost its dead marks; an unchanged one kept them, so they are shown.
        var (dead, expiresAt) = result.Outcome == FrontendOutcome.Unchanged
            ? await reader.GetDeadAsync(key, cancellationToken).ConfigureAwait(false)
            : (new HashSet<int>(), null);
        var view = new FrontendView(key, body.App!, [.. backends.Select((b, i) => new BackendView(b, dead.Contains(i), dead.Contains(i) ? expiresAt : null))]);
        return result.Outcome == FrontendOutcome.Created ? TypedResults.Created($"/v1/frontends/{Uri.EscapeDataString(key)}", view) : TypedResults.Ok(view);
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DeleteAsync(
        string host, HttpContext http, RouteWriter writer, AppRegistry apps, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            return Problems.Invalid("host", error!);
        }

        if (!EntityTags.TryReadIfMatch(http.Request, out var ifMatch))
        {
            return Problems.Invalid("If-Match", EntityTags.InvalidHeader);
        }

        var result = await writer.DeleteFrontendAsync(key, new FrontendCondition(ifMatch, null), cancellationToken).ConfigureAwait(false);
        audit.Record(user, "delete-frontend", key, result.Outcome);
        if (result.Outcome == FrontendOutcome.Deleted)
        {
            await apps.TrackAsync(key, null, result.PreviousIdentifier, cancellationToken).ConfigureAwait(false);
        }

        return result.Outcome switch
        {
            FrontendOutcome.Deleted => TypedResults.NoContent(),
            // A missing frontend fails If-Match too (RFC 9110 13.1.1), but 404 says more.
            FrontendOutcome.NotFound => Problems.NotFound($"No frontend '{key}'."),
            _ => Problems.PreconditionFailed(key),
        };
    }

    private static async Task<Results<Ok, ProblemHttpResult, ValidationProblem>> AddBackendAsync(
        string host, BackendWrite body, HttpContext http, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            errors["host"] = [error!];
        }

        if (!RouteValidation.TryNormalizeBackend(body.Url, out var url, out var urlError))
        {
            errors["url"] = [urlError!];
        }

        if (!EntityTags.TryReadIfMatch(http.Request, out var ifMatch))
        {
            errors["If-Match"] = [EntityTags.InvalidHeader];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = await writer.AddBackendAsync(key, url, new FrontendCondition(ifMatch, null), cancellationToken).ConfigureAwait(false);
        audit.Record(user, "add-backend", key, result.Outcome);
        switch (result.Outcome)
        {
            case FrontendOutcome.NotFound:
                return Problems.NotFound($"No frontend '{key}'.");
            case FrontendOutcome.PreconditionFailed:
                return Problems.PreconditionFailed(key);
            default:
                http.Response.Headers.ETag = EntityTags.Format(result.Tag!);
                return TypedResults.Ok();
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> RemoveBackendAsync(
        string host, string? url, HttpContext http, RouteWriter writer, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!RouteValidation.TryNormalizeHost(host, out var key, out var error))
        {
            errors["host"] = [error!];
        }

        if (!RouteValidation.TryNormalizeBackend(url, out var normalized, out var urlError))
        {
            errors["url"] = [urlError!];
        }

        if (!EntityTags.TryReadIfMatch(http.Request, out var ifMatch))
        {
            errors["If-Match"] = [EntityTags.InvalidHeader];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var result = await writer.RemoveBackendAsync(key, normalized, new FrontendCondition(ifMatch, null), cancellationToken).ConfigureAwait(false);
        audit.Record(user, "remove-backend", key, result.Outcome);
        switch (result.Outcome)
        {
            case FrontendOutcome.NotFound:
                return Problems.NotFound($"No frontend '{key}'.");
            case FrontendOutcome.BackendNotFound:
                return Problems.NotFound($"Frontend '{key}' has no backend '{normalized}'.");
            case FrontendOutcome.PreconditionFailed:
                return Problems.PreconditionFailed(key);
            default:
                http.Response.Headers.ETag = EntityTags.Format(result.Tag!);
                return TypedResults.NoContent();
        }
    }
}

internal static class Problems
{
    public static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: detail);

    public static ProblemHttpResult PreconditionFailed(string host) =>
        TypedResults.Problem(
            statusCode: StatusCodes.Status412PreconditionFailed,
            title: "Precondition failed",
            detail: $"Frontend '{host}' is not in the version If-Match names (changed or deleted since it was read); read it again.");
}
