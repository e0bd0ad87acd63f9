using System.Globalization;
using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Admin.Validation;

/// <summary>
/// What may reach Redis: hostnames, backend URLs and app names, checked before any write so
/// that a router never reads a key or URL it cannot use.
/// </summary>
internal static class RouteValidation
{
    public const int MaxHostLength = 253;
    public const int MaxAppLength = 100;
    public const int MaxBackends = 1000;

    /// <summary>
    /// Hostnames of one app: one PUT writes one list per host, pipelined, and 1000 of those still
    /// commit in well under a second on one Redis.
    /// </summary>
    public const int MaxHostsPerApp = 1000;
    public const int MaxUrlLength = 2048;

    /// <summary>The backend scheme for HTTP/2 with prior knowledge (the router's <c>BackendAddress.Http2Scheme</c>).</summary>
    public const string H2cScheme = "h2c";

    /// <summary>"cookie:" and a header or cookie name of any sensible length.</summary>
    public const int MaxHashOnLength = 256;

    /// <summary>
    /// Largest request body Kestrel accepts (413 beyond, instead of its 30 MB default): the
    /// largest body the other limits allow, 1000 hosts of 253 characters and 1000 URLs of 2048,
    /// is about 2.3 MB of JSON; 4 MiB leaves room for whitespace and escapes.
    /// </summary>
    public const long MaxRequestBodyBytes = 4 * 1024 * 1024;

    /// <summary>Page size of listings when none is asked for.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>Largest page: about what one pipelined round trip to Redis reads in a millisecond or two.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>A glob over hostnames needs no more than a hostname's length plus some wildcards.</summary>
    public const int MaxMatchLength = MaxHostLength + 47;

    /// <summary>
    /// Lower-cased RFC 1123 name, optionally <c>*.</c> in front, or exactly <c>*</c>. Returns the
    /// normalized form (upper case is accepted and lowered, one trailing dot dropped) or an error.
    /// </summary>
    public static bool TryNormalizeHost(string? input, out string host, out string? error)
    {
        host = string.Empty;
        error = null;
        if (string.IsNullOrWhiteSpace(input))
        {
            error = "A hostname is required.";
            return false;
        }

        var candidate = input.Trim().ToLowerInvariant();
        if (candidate == "*")
        {
            host = candidate;
            return true;
        }

        if (candidate.EndsWith('.'))
        {
            candidate = candidate[..^1];
        }

        var name = candidate.StartsWith("*.", StringComparison.Ordinal) ? candidate[2..] : candidate;
        if (candidate.Length > MaxHostLength)
        {
            error = $"A hostname has at most {MaxHostLength} characters.";
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63)
            {
                error = $"'{input}' has an empty label or one longer than 63 characters.";
                return false;
            }

            if (label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_'))
            {
                error = $"'{input}' is not a hostname: labels are letters, digits and inner hyphens; a wildcard is only a leading '*.'.";
                return false;
            }
        }

        host = candidate;
        return true;
    }

    /// <summary>
    /// Absolute http, https or h2c URL with a host, optional port and path; no user info, query or
    /// fragment. <c>h2c://host:port</c> is this project's extension (HTTP/2 with prior knowledge to
    /// the backend, for gRPC); Hipache and older routers ignore the scheme and use plain HTTP/1.1.
    /// </summary>
    public static bool TryNormalizeBackend(string? input, out string url, out string? error)
    {
        url = string.Empty;
        error = null;
        if (string.IsNullOrWhiteSpace(input) || input.Length > MaxUrlLength)
        {
            error = $"A backend URL is required and has at most {MaxUrlLength} characters.";
            return false;
        }

        if (!Uri.TryCreate(input.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != H2cScheme))
        {
            error = $"'{input}' is not an absolute http://, https:// or h2c:// URL.";
            return false;
        }

        if (uri.Host.Length == 0 || uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            error = $"'{input}' must have a host and no user info, query or fragment.";
            return false;
        }

        // The form Hipache tooling writes: scheme://host[:port][/path], without a lone trailing '/'.
        var path = uri.AbsolutePath == "/" ? string.Empty : uri.AbsolutePath;
        url = $"{uri.Scheme}://{uri.Authority}{path}";
        return true;
    }

    /// <summary>Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 characters.</summary>
    public static bool IsValidApp(string? app, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(app) || app.Length > MaxAppLength
            || !char.IsAsciiLetterOrDigit(app[0]) || !app.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
        {
            error = $"An app name is 1-{MaxAppLength} letters, digits, '.', '_' or '-', starting with a letter or digit.";
            return false;
        }

        return true;
    }

    public static bool TryPageSize(int? limit, out int size, out string? error)
    {
        size = limit ?? DefaultPageSize;
        error = size is < 1 or > MaxPageSize ? $"limit is 1-{MaxPageSize} (default {DefaultPageSize})." : null;
        return error is null;
    }

    /// <summary>A Redis glob (<c>*</c>, <c>?</c>, <c>[...]</c>, <c>\</c> escapes) over frontend keys; the literal <c>*</c> host is <c>\*</c>.</summary>
    public static bool IsValidMatch(string match, out string? error)
    {
        error = match.Length is 0 or > MaxMatchLength || match.Any(char.IsControl)
            ? $"match is a Redis glob of 1-{MaxMatchLength} printable characters, e.g. '*.example.com' or 'api*'."
            : null;
        return error is null;
    }

    /// <summary>Every URL normalized, in order; all errors collected under one field rather than stopping at the first.</summary>
    /// <summary>Reads a balancing body into the stored form, or adds what is wrong to <paramref name="errors"/>.</summary>
    public static Balancing? ReadBalancing(BalancingWrite? body, Dictionary<string, string[]> errors)
    {
        if (body is null || !Balancing.TryParsePolicy(body.Policy, out var policy))
        {
            errors["policy"] = ["policy is one of random, round-robin, least-requests, weighted, hash."];
            return null;
        }

        string? hashOn = null;
        if (policy == BalancingPolicy.Hash)
        {
            if (body.HashOn is not { Length: <= MaxHashOnLength } || !HashSource.TryParse(body.HashOn, out _))
            {
                errors["hashOn"] = [$"hashOn is 'header:<name>' or 'cookie:<name>' (a token, up to {MaxHashOnLength} characters in all) for the hash policy."];
            }

            hashOn = body.HashOn;
        }
        else if (body.HashOn is not null)
        {
            errors["hashOn"] = ["hashOn applies to the hash policy only."];
        }

        var weights = new Dictionary<string, int>(StringComparer.Ordinal);
        if (body.Weights is { Count: > 0 } given)
        {
            if (policy != BalancingPolicy.Weighted)
            {
                errors["weights"] = ["weights apply to the weighted policy only."];
            }
            else if (given.Count > MaxBackends)
            {
                errors["weights"] = [$"at most {MaxBackends} weights."];
            }
            else
            {
                var problems = new List<string>();
                foreach (var (url, weight) in given)
                {
                    if (!TryNormalizeBackend(url, out var normalized, out var urlError))
                    {
                        problems.Add($"'{url}': {urlError}");
                    }
                    else if (weight is < 1 or > Balancing.MaxWeight)
                    {
                        problems.Add($"'{url}': a weight is an integer from 1 to {Balancing.MaxWeight}.");
                    }
                    else if (!weights.TryAdd(normalized, weight))
                    {
                        problems.Add($"'{url}': named twice.");
                    }
                }

                if (problems.Count > 0)
                {
                    errors["weights"] = [.. problems];
                }
            }
        }

        if (body.StickyCookie is not null && (body.StickyCookie.Length > MaxHashOnLength || !HashSource.IsToken(body.StickyCookie)))
        {
            errors["stickyCookie"] = [$"stickyCookie is a cookie name (a token of up to {MaxHashOnLength} characters), or absent for no sticky sessions."];
        }

        var slowStart = TimeSpan.FromSeconds(body.SlowStartSeconds ?? 0);
        if (body.SlowStartSeconds is < 0 || slowStart > Balancing.MaxSlowStart)
        {
            errors["slowStartSeconds"] = [$"slowStartSeconds is 0 (none) to {Balancing.MaxSlowStart.TotalSeconds:F0}."];
        }
        else if (slowStart > TimeSpan.Zero && policy == BalancingPolicy.Hash)
        {
            errors["slowStartSeconds"] = ["slow start does not apply to the hash policy (a value keeps its backend)."];
        }

        if (body.HealthCheckPath is not null && !Balancing.IsHealthPath(body.HealthCheckPath))
        {
            errors["healthCheckPath"] = ["healthCheckPath is an origin-form path: '/', then printable ASCII without spaces, 1-1024 characters."];
        }

        return errors.Count > 0 ? null : new Balancing(policy, hashOn, weights, body.StickyCookie, slowStart, body.HealthCheckPath);
    }

    public static List<string> NormalizeBackends(IReadOnlyList<string>? input, Dictionary<string, string[]> errors, string field = "backends")
    {
        var backends = new List<string>();
        var problems = new List<string>();
        input ??= [];
        if (input.Count > MaxBackends)
        {
            problems.Add($"At most {MaxBackends} backends.");
        }

        foreach (var url in input)
        {
            if (TryNormalizeBackend(url, out var normalized, out var error))
            {
                backends.Add(normalized);
            }
            else
            {
                problems.Add(error!);
            }
        }

        if (problems.Count > 0)
        {
            errors[field] = [.. problems];
        }

        return backends;
    }

    /// <summary>Every hostname normalized, duplicates (after normalization) dropped, order kept; all errors collected.</summary>
    public static List<string> NormalizeHosts(IReadOnlyList<string>? input, Dictionary<string, string[]> errors, string field = "hosts")
    {
        var hosts = new List<string>();
        var problems = new List<string>();
        input ??= [];
        if (input.Count > MaxHostsPerApp)
        {
            problems.Add($"At most {MaxHostsPerApp} hosts per app.");
        }

        foreach (var name in input)
        {
            if (!TryNormalizeHost(name, out var host, out var error))
            {
                problems.Add(error!);
            }
            else if (!hosts.Contains(host))
            {
                hosts.Add(host);
            }
        }

        if (problems.Count > 0)
        {
            errors[field] = [.. problems];
        }

        return hosts;
    }

    /// <summary>The HTTPS settings of a PUT, or null with the errors by field (hstspreload.org's rules for <c>preload</c>).</summary>
    public static HttpsPolicy? ReadHttps(HttpsSettings? body, Dictionary<string, string[]> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (body is null)
        {
            errors["body"] = ["A body { redirect, hsts? } is required."];
            return null;
        }

        if (body.Hsts is not { } hsts)
        {
            return new HttpsPolicy(body.Redirect, null);
        }

        var problems = new List<string>();
        if (hsts.MaxAgeSeconds is not { } maxAge || maxAge is < 0 or > HttpsPolicy.MaxAgeLimit)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"maxAgeSeconds is required, 0 (browsers forget the policy) to {HttpsPolicy.MaxAgeLimit} (two years)."));
        }
        else if (hsts.Preload && (!hsts.IncludeSubDomains || maxAge < HttpsPolicy.PreloadMinimumMaxAge))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"preload needs includeSubDomains and a maxAgeSeconds of at least {HttpsPolicy.PreloadMinimumMaxAge} (one year), as the preload list requires."));
        }

        if (problems.Count > 0)
        {
            errors["hsts"] = [.. problems];
            return null;
        }

        return new HttpsPolicy(body.Redirect, HttpsPolicy.HstsValue(hsts.MaxAgeSeconds!.Value, hsts.IncludeSubDomains, hsts.Preload));
    }
}
