using Hipache.Aspire.Admin.Console;
using Scalar.AspNetCore;

namespace Hipache.Aspire.Admin.Security;

/// <summary>
/// Headers on every admin response, set when the response starts so that error pages, 401s and
/// the exception handler's 503s (which clear the headers set before them) carry them too.
/// JSON answers get a policy that allows nothing at all (OWASP REST guidance); the Scalar
/// reference page gets one that allows exactly what it loads: its own scripts (served by the
/// package from this origin, there is no CDN), its inline start script by nonce, inline styles,
/// data: images, and fetches to this origin only, so keys and tenant data go nowhere else.
/// </summary>
internal sealed class SecurityHeadersMiddleware(RequestDelegate next)
{
    internal const string ApiPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(static state =>
        {
            var http = (HttpContext)state;
            var headers = http.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.ContentSecurityPolicy = http.Items.TryGetValue(ScalarOptions.NonceHttpContextItemKey, out var nonce) && nonce is string value
                ? ReferencePagePolicy(value)
                : http.Request.Path.StartsWithSegments("/console", StringComparison.OrdinalIgnoreCase)
                    ? ConsolePolicy(ConsoleNonce.Of(http))
                    : ApiPolicy;
            if (http.Request.Path.StartsWithSegments("/console", StringComparison.OrdinalIgnoreCase))
            {
                headers.CacheControl = "no-store";
            }
            if (http.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase))
            {
                // Tenant data, read with a key: no shared or browser cache may keep a copy.
                // ETags still serve If-Match / If-None-Match, which do not need a cache.
                headers.CacheControl = "no-store";
                headers.Pragma = default;
                headers.Expires = default;
            }

            return Task.CompletedTask;
        }, context);
        return next(context);
    }

    /// <summary>The console: its own forms, one inline stylesheet by nonce, no script, no frame, nothing from elsewhere.</summary>
    internal static string ConsolePolicy(string nonce) =>
        $"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    internal static string ReferencePagePolicy(string nonce) =>
        $"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        + "connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
}
