using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Admin.Auth;

/// <summary>
/// Bearer API keys, shaped like the Aspire dashboard's API key handler: exactly one
/// Authorization header, any configured key (rotation), compared in constant time, fail closed.
/// The caller's identity is the key's position (<c>key-0</c>), never the key. Refusals are
/// counted for <see cref="FailedAuthReporter"/>; the presented value is never logged or kept.
/// </summary>
internal sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    IOptionsMonitor<AdminOptions> adminOptions,
    FailedAuthCounter failures,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string BearerPrefix = "Bearer ";

    private readonly ILogger _log = loggerFactory.CreateLogger<ApiKeyAuthenticationHandler>();

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (headers.Count > 1)
        {
            return Fail("More than one Authorization header.");
        }

        var value = headers[0] ?? string.Empty;
        if (!value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return Fail("The Authorization header is not a Bearer key.");
        }

        var matched = ApiKeyMatcher.Match(value[BearerPrefix.Length..].Trim(), adminOptions.CurrentValue.ApiKeys);
        if (matched < 0)
        {
            return Fail("The API key is not valid.");
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, $"key-{matched}")], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // One challenge per refused request; any Authorization header at all means a key was tried.
        var presentedKey = Request.Headers.Authorization.Count > 0;
        failures.Record(Context.Connection.RemoteIpAddress, presentedKey);
        LogRejected(_log, Request.Method, Request.Path, Context.Connection.RemoteIpAddress, presentedKey);
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Authentication required",
            detail: "Send a valid admin API key as 'Authorization: Bearer <key>'.").ExecuteAsync(Context).ConfigureAwait(false);
    }

    private static Task<AuthenticateResult> Fail(string reason) => Task.FromResult(AuthenticateResult.Fail(reason));

    // Debug, not Warning: a guessing run would otherwise write a warning per guess. The warning
    // is FailedAuthReporter's, one per interval.
    [LoggerMessage(EventId = 10, Level = LogLevel.Debug, Message = "Rejected unauthenticated {Method} {Path} from {Client} (key presented: {KeyPresented})")]
    private static partial void LogRejected(ILogger logger, string method, PathString path, System.Net.IPAddress? client, bool keyPresented);
}
