using System.Globalization;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>How a frontend's requests are spread over its live backends.</summary>
public enum BalancingPolicy
{
    /// <summary>Uniformly at random, each request and retry on its own: Hipache's only policy, and the default.</summary>
    Random,

    /// <summary>Each live backend in turn.</summary>
    RoundRobin,

    /// <summary>Of two live backends drawn at random, the one with fewer requests in flight (power of two choices).</summary>
    LeastRequests,

    /// <summary>At random in proportion to each backend's weight (1 unless set).</summary>
    Weighted,

    /// <summary>
    /// Rendezvous hashing of a header's or a cookie's value: a value keeps its backend while that
    /// backend lives, and only the values of a backend that goes away move. Requests without the
    /// value go at random.
    /// </summary>
    Hash,
}

/// <summary>
/// A frontend's balancing settings, stored in this project's own hash next to Hipache's list
/// (<see cref="RouteKeys.Balancing"/>): field <c>policy</c>, <c>hash-on</c>
/// (<c>header:&lt;name&gt;</c> or <c>cookie:&lt;name&gt;</c>), one <c>weight:&lt;url&gt;</c>
/// per weighted backend, keyed by URL so that reordering or removing backends keeps the weights,
/// and <c>sticky-cookie</c>, the name of the signed cookie that keeps a client on the backend
/// that first served it (any policy; absent: no sticky sessions). No hash means
/// <see cref="BalancingPolicy.Random"/> without stickiness, as with Hipache.
/// </summary>
public sealed record Balancing(BalancingPolicy Policy, string? HashOn, IReadOnlyDictionary<string, int> Weights, string? StickyCookie = null, TimeSpan SlowStart = default, string? HealthPath = null)
{
    /// <summary>
    /// What the active health checker probes and keys its lease and result by: the URL alone for
    /// the checker's default path, else the URL and the frontend's own path (a backend shared by
    /// frontends with different paths is probed once per path).
    /// </summary>
    public static string ProbeTarget(string backendUrl, string? healthPath) => healthPath is null ? backendUrl : backendUrl + " " + healthPath;

    /// <summary>An origin-form path for health probes: starts with '/', printable ASCII without spaces, 1-1024 characters.</summary>
    public static bool IsHealthPath(string? path) => path is { Length: > 0 and <= 1024 } && path[0] == '/' && path.All(c => c > ' ' && c < (char)0x7f);

    /// <summary>Longest slow start: an hour of ramp is already more than any warm-up needs.</summary>
    public static readonly TimeSpan MaxSlowStart = TimeSpan.FromHours(1);

    public const int MaxWeight = 1000;

    private const string PolicyField = "policy";
    private const string HashOnField = "hash-on";
    private const string StickyCookieField = "sticky-cookie";
    private const string SlowStartField = "slow-start-ms";
    private const string HealthPathField = "health-path";
    private const string WeightFieldPrefix = "weight:";

    private static readonly IReadOnlyDictionary<string, int> NoWeights = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>Hipache's behaviour.</summary>
    public static Balancing Default { get; } = new(BalancingPolicy.Random, null, NoWeights);

    public bool IsDefault => Policy == BalancingPolicy.Random && StickyCookie is null && SlowStart <= TimeSpan.Zero && HealthPath is null;

    /// <summary>
    /// The frontend's HTTPS behaviour, read from the same hash (one read per miss for both) but
    /// written apart (<see cref="RouteWriter.SetHttpsAsync"/>): balancing writes keep it.
    /// </summary>
    public HttpsPolicy Https { get; init; } = HttpsPolicy.None;

    /// <summary>The names the admin API and the stored hash use.</summary>
    public static string Name(BalancingPolicy policy) => policy switch
    {
        BalancingPolicy.RoundRobin => "round-robin",
        BalancingPolicy.LeastRequests => "least-requests",
        BalancingPolicy.Weighted => "weighted",
        BalancingPolicy.Hash => "hash",
        _ => "random",
    };

    public static bool TryParsePolicy(string? name, out BalancingPolicy policy)
    {
        policy = name switch
        {
            "random" => BalancingPolicy.Random,
            "round-robin" => BalancingPolicy.RoundRobin,
            "least-requests" => BalancingPolicy.LeastRequests,
            "weighted" => BalancingPolicy.Weighted,
            "hash" => BalancingPolicy.Hash,
            _ => (BalancingPolicy)(-1),
        };
        return policy >= 0;
    }

    /// <summary>
    /// The stored hash as routers read it. Lenient, because anyone can write it with redis-cli: an
    /// unknown policy, a hash policy without a usable source or a weight out of range falls back
    /// to what Hipache would do (random, weight 1) rather than failing the route.
    /// </summary>
    public static Balancing FromHash(HashEntry[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Length == 0)
        {
            return Default;
        }

        var policy = BalancingPolicy.Random;
        string? hashOn = null;
        string? sticky = null;
        var slowStart = TimeSpan.Zero;
        string? healthPath = null;
        Dictionary<string, int>? weights = null;
        var redirect = false;
        string? hsts = null;
        foreach (var entry in entries)
        {
            var field = entry.Name.ToString();
            if (field == HttpsPolicy.RedirectField)
            {
                redirect = entry.Value == 1;
            }
            else if (field == HttpsPolicy.HstsField && HttpsPolicy.IsHstsValue(entry.Value.ToString()))
            {
                hsts = entry.Value.ToString();
            }
            else if (field == PolicyField)
            {
                _ = TryParsePolicy(entry.Value.ToString(), out policy);
            }
            else if (field == HashOnField)
            {
                hashOn = entry.Value.ToString();
            }
            else if (field == StickyCookieField && HashSource.IsToken(entry.Value.ToString()))
            {
                sticky = entry.Value.ToString();
            }
            else if (field == HealthPathField && IsHealthPath(entry.Value.ToString()))
            {
                healthPath = entry.Value.ToString();
            }
            else if (field == SlowStartField
                && long.TryParse(entry.Value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var slowMs) && slowMs <= (long)MaxSlowStart.TotalMilliseconds)
            {
                slowStart = TimeSpan.FromMilliseconds(slowMs);
            }
            else if (field.StartsWith(WeightFieldPrefix, StringComparison.Ordinal)
                && int.TryParse(entry.Value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var weight) && weight is >= 1 and <= MaxWeight)
            {
                (weights ??= new Dictionary<string, int>(StringComparer.Ordinal))[field[WeightFieldPrefix.Length..]] = weight;
            }
        }

        if (policy < 0 || policy == BalancingPolicy.Hash && !HashSource.TryParse(hashOn, out _))
        {
            policy = BalancingPolicy.Random;
        }

        return new Balancing(policy, policy == BalancingPolicy.Hash ? hashOn : null, policy == BalancingPolicy.Weighted ? weights ?? NoWeights : NoWeights, sticky, slowStart, healthPath)
        {
            Https = redirect || hsts is not null ? new HttpsPolicy(redirect, hsts) : HttpsPolicy.None,
        };
    }

    public HashEntry[] ToHash()
    {
        var entries = new List<HashEntry> { new(PolicyField, Name(Policy)) };
        if (HashOn is not null)
        {
            entries.Add(new HashEntry(HashOnField, HashOn));
        }

        if (StickyCookie is not null)
        {
            entries.Add(new HashEntry(StickyCookieField, StickyCookie));
        }

        if (HealthPath is not null)
        {
            entries.Add(new HashEntry(HealthPathField, HealthPath));
        }

        if (SlowStart > TimeSpan.Zero)
        {
            entries.Add(new HashEntry(SlowStartField, (long)SlowStart.TotalMilliseconds));
        }

        foreach (var (url, weight) in Weights.OrderBy(w => w.Key, StringComparer.Ordinal))
        {
            entries.Add(new HashEntry(WeightFieldPrefix + url, weight));
        }

        return [.. entries];
    }

    /// <summary>Equal settings (records compare dictionaries by reference).</summary>
    public bool SameAs(Balancing? other) =>
        other is not null && other.Policy == Policy && string.Equals(other.HashOn, HashOn, StringComparison.Ordinal)
        && string.Equals(other.StickyCookie, StickyCookie, StringComparison.Ordinal) && other.SlowStart == SlowStart
        && string.Equals(other.HealthPath, HealthPath, StringComparison.Ordinal)
        && other.Weights.Count == Weights.Count && Weights.All(w => other.Weights.TryGetValue(w.Key, out var v) && v == w.Value);
}

/// <summary>Where the hash policy takes its value: <c>header:&lt;name&gt;</c> or <c>cookie:&lt;name&gt;</c>.</summary>
public readonly record struct HashSource(bool IsCookie, string Name)
{
    public static bool TryParse(string? text, out HashSource source)
    {
        source = default;
        if (text is null)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        var kind = text[..colon];
        var name = text[(colon + 1)..];
        if (kind is not ("header" or "cookie") || !IsToken(name))
        {
            return false;
        }

        source = new HashSource(kind == "cookie", name);
        return true;
    }

    /// <summary>RFC 9110 5.6.2: header field names and cookie names are tokens.</summary>
    public static bool IsToken(string text) => text.Length > 0 && text.All(IsTokenChar);

    private static bool IsTokenChar(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
}
