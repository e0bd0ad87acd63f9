using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.RouteStore.Certificates;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hipache.Aspire.Admin.Certificates;

/// <summary>
/// <c>/v1/certificates</c>: the TLS certificates routers serve by SNI name. Uploads are checked,
/// their private keys encrypted (<see cref="PrivateKeyProtector"/>) before they reach Redis, and
/// never returned.
/// </summary>
internal static class CertificatesApi
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 1000;

    public static RouteGroupBuilder MapCertificatesApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/v1/certificates").WithTags("Certificates").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/", ListAsync).WithName("ListCertificates")
            .WithSummary("Lists stored certificates, soonest expiry first; expiringWithin (e.g. 30d, 12h) keeps those that expire within it.");
        group.MapGet("/{name}", GetAsync).WithName("GetCertificate").WithSummary("Reads one certificate's metadata (never its key).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPut("/{name}", PutAsync).WithName("PutCertificate")
            .WithSummary("Stores a certificate chain and key for a host, a wildcard (*.example.com) or _default; served on the next handshake.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapDelete("/{name}", DeleteAsync).WithName("DeleteCertificate").WithSummary("Deletes a certificate; open connections keep theirs.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return group;
    }

    private static async Task<Results<Created<CertificateView>, Ok<CertificateView>, ProblemHttpResult, ValidationProblem>> PutAsync(
        string name, CertificateWrite body, CertificateStore store, PrivateKeyProtector protector, TimeProvider time, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!protector.IsEnabled)
        {
            return NotConfigured();
        }

        if (!CertificateValidation.TryNormalizeName(name, out var key, out var nameError))
        {
            return Problems.Invalid("name", nameError!);
        }

        var errors = new Dictionary<string, string[]>();
        var now = time.GetUtcNow();
        var validated = CertificateValidation.Validate(key, body, now, errors);
        if (validated is null)
        {
            return TypedResults.ValidationProblem(errors, title: "The certificate cannot be stored");
        }

        string protectedKey;
        try
        {
            protectedKey = protector.Protect(key, validated.Pkcs8);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(validated.Pkcs8);
        }

        var existed = await store.GetAsync(key, cancellationToken).ConfigureAwait(false) is not null;
        var stored = new StoredCertificate(key, validated.ChainPem, protectedKey, new DateTimeOffset(validated.Leaf.NotAfter.ToUniversalTime()), now);
        await store.PutAsync(stored, cancellationToken).ConfigureAwait(false);
        var view = CertificateValidation.View(stored);
        audit.Record(user, "put-certificate", key, (existed ? "replaced " : "created ") + view.FingerprintSha256);
        return existed ? TypedResults.Ok(view) : TypedResults.Created($"/v1/certificates/{Uri.EscapeDataString(key)}", view);
    }

    private static async Task<Results<Ok<CertificateView>, ProblemHttpResult, ValidationProblem>> GetAsync(string name, CertificateStore store, CancellationToken cancellationToken)
    {
        if (!CertificateValidation.TryNormalizeName(name, out var key, out var error))
        {
            return Problems.Invalid("name", error!);
        }

        return await store.GetAsync(key, cancellationToken).ConfigureAwait(false) is { } stored
            ? TypedResults.Ok(CertificateValidation.View(stored))
            : Problems.NotFound($"No certificate '{key}'.");
    }

    private static async Task<Results<NoContent, ProblemHttpResult, ValidationProblem>> DeleteAsync(
        string name, CertificateStore store, ClaimsPrincipal user, AdminAudit audit, CancellationToken cancellationToken)
    {
        if (!CertificateValidation.TryNormalizeName(name, out var key, out var error))
        {
            return Problems.Invalid("name", error!);
        }

        if (!await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false))
        {
            return Problems.NotFound($"No certificate '{key}'.");
        }

        audit.Record(user, "delete-certificate", key, "deleted");
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<CertificatePage>, ValidationProblem>> ListAsync(
        CertificateStore store, TimeProvider time, CancellationToken cancellationToken, string? expiringWithin = null, string? cursor = null, int? limit = null)
    {
        var errors = new Dictionary<string, string[]>();
        DateTimeOffset? before = null;
        if (expiringWithin is not null)
        {
            if (TryParseSpan(expiringWithin, out var span))
            {
                before = time.GetUtcNow() + span;
            }
            else
            {
                errors["expiringWithin"] = ["Not a duration: a whole number of days, hours or minutes, as in 30d, 12h or 90m."];
            }
        }

        long skip = 0;
        if (cursor is not null && (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out skip) || skip < 0))
        {
            errors["cursor"] = ["Not a cursor this API returned; start again without one."];
        }

        var take = limit ?? DefaultPageSize;
        if (take is < 1 or > MaxPageSize)
        {
            errors["limit"] = [string.Create(CultureInfo.InvariantCulture, $"Between 1 and {MaxPageSize}.")];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var (items, more) = await store.ListAsync(before, skip, take, cancellationToken).ConfigureAwait(false);
        var next = more ? (skip + take).ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new CertificatePage([.. items.Select(CertificateValidation.View)], next));
    }

    private static bool TryParseSpan(string text, out TimeSpan span)
    {
        span = TimeSpan.Zero;
        if (text.Length < 2 || !int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        switch (text[^1])
        {
            case 'd':
                span = TimeSpan.FromDays(value);
                return value <= 36_500;
            case 'h':
                span = TimeSpan.FromHours(value);
                return value <= 876_000;
            case 'm':
                span = TimeSpan.FromMinutes(value);
                return true;
            default:
                return false;
        }
    }

    private static ProblemHttpResult NotConfigured() => TypedResults.Problem(
        statusCode: StatusCodes.Status409Conflict,
        title: "The certificate store is off",
        detail: "No key protects private keys at rest: set CertificateStore:Keys:<id> (base64 of 32 random bytes, e.g. openssl rand -base64 32) on the admin API and every router.");
}
