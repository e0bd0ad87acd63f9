using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using StackExchange.Redis;

namespace Hipache.Aspire.RouteStore;

/// <summary>
/// The version tag of a frontend list, the same whether computed here (on reads) or inside a
/// script on the server (for compare-and-set): SHA-1 hex of every element, each written as its
/// byte length, ':' and its bytes, so that two different lists never join to the same text.
/// SHA-1 because it is what <c>redis.sha1hex</c> offers on redis-server and Garnet alike.
/// </summary>
public static class FrontendTag
{
    /// <summary>Lua <c>tag(list)</c>, shared by every script that compares or returns a tag.</summary>
    internal const string LuaFunction = """
        local function tag(list)
          local parts = {}
          for i = 1, #list do parts[i] = #list[i] .. ':' .. list[i] end
          return redis.sha1hex(table.concat(parts))
        end
        """;

    [SuppressMessage("Security", "CA5350:Do not use weak cryptographic algorithms", Justification = "A change detector, not a security boundary; it must equal redis.sha1hex.")]
    public static string Compute(IReadOnlyList<RedisValue> list)
    {
        ArgumentNullException.ThrowIfNull(list);
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        foreach (var item in list)
        {
            // Raw bytes: a list written by redis-cli need not be UTF-8.
            var bytes = (byte[]?)item ?? [];
            sha1.AppendData(System.Text.Encoding.ASCII.GetBytes(bytes.Length.ToString(CultureInfo.InvariantCulture)));
            sha1.AppendData(":"u8);
            sha1.AppendData(bytes);
        }

        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }
}

/// <summary>One frontend list and its <see cref="FrontendTag"/>.</summary>
public sealed record TaggedFrontend(Frontend Frontend, string Tag);

/// <summary>
/// What a conditional write requires of the list it replaces. <see cref="IfMatch"/>: null for no
/// condition, <c>*</c> for "exists", else comma-separated tags of which one must be current.
/// <see cref="Owner"/>: when set, the list must be missing or have this identifier.
/// </summary>
public readonly record struct FrontendCondition(string? IfMatch, string? Owner)
{
    public static FrontendCondition None => default;
}

public enum FrontendOutcome
{
    Created,
    Replaced,
    Unchanged,
    Deleted,
    NotFound,
    BackendNotFound,
    PreconditionFailed,
    OwnerConflict,
}

/// <summary>What a conditional write did; <see cref="Tag"/> is the list's tag afterwards (before, when refused).</summary>
public sealed record FrontendWriteResult(FrontendOutcome Outcome, string? PreviousIdentifier, string? Tag);
