using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Picks the backend of one attempt by the frontend's policy (<see cref="RouteBalancing"/>),
/// among live backends not yet tried by this request. Without a policy, Hipache's choice:
/// uniformly at random (hipache-compat 4.2). When every backend is marked dead, Safe mode
/// chooses among all of them anyway (panic mode, Q19); Hipache mode finds none. A backend a
/// sticky-session cookie names comes first while it is a candidate.
/// </summary>
internal static class BackendChooser
{
    /// <summary>The index of the backend to try, or -1 when none is left.</summary>
    public static int Pick(RouteEntry route, HttpContext context, bool hipacheMode, ulong tried, bool[]? triedMany, int preferred = -1)
    {
        var count = route.Backends.Length;
        if (count == 0)
        {
            return -1;
        }

        var ignoreDead = route.LiveCount == 0 && !hipacheMode;
        var candidates = 0;
        for (var i = 0; i < count; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                candidates++;
            }
        }

        if (candidates == 0)
        {
            return -1;
        }

        if (preferred >= 0 && IsCandidate(route, preferred, ignoreDead, tried, triedMany))
        {
            return preferred;
        }

        return route.Balancing switch
        {
            null => Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.RoundRobin } balancing => Nth(route, (int)(balancing.NextTurn() % (uint)candidates), ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.LeastRequests } => LeastRequests(route, candidates, ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.Weighted } balancing => Weighted(route, balancing, ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.Hash } balancing => Hashed(route, balancing, context, candidates, ignoreDead, tried, triedMany),
            _ => Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany),
        };
    }

    public static void MarkTried(int index, ref ulong tried, bool[]? triedMany)
    {
        if (triedMany is null)
        {
            tried |= 1UL << index;
        }
        else
        {
            triedMany[index] = true;
        }
    }

    private static bool IsCandidate(RouteEntry route, int index, bool ignoreDead, ulong tried, bool[]? triedMany) =>
        (ignoreDead || !route.Dead[index]) && !(triedMany is null ? (tried & (1UL << index)) != 0 : triedMany[index]);

    /// <summary>The <paramref name="n"/>th candidate (0-based) in list order.</summary>
    private static int Nth(RouteEntry route, int n, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany) && n-- == 0)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Power of two choices: of two distinct candidates drawn at random, the one with fewer requests in flight.</summary>
    private static int LeastRequests(RouteEntry route, int candidates, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var first = Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany);
        if (candidates == 1)
        {
            return first;
        }

        // The second draw skips the first's rank, so the two are distinct.
        var rank = Random.Shared.Next(candidates - 1);
        var second = Nth(route, rank >= RankOf(route, first, ignoreDead, tried, triedMany) ? rank + 1 : rank, ignoreDead, tried, triedMany);
        return route.Backends[second].InFlight < route.Backends[first].InFlight ? second : first;
    }

    private static int RankOf(RouteEntry route, int index, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var rank = 0;
        for (var i = 0; i < index; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                rank++;
            }
        }

        return rank;
    }

    private static int Weighted(RouteEntry route, RouteBalancing balancing, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var total = 0;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                total += balancing.Weights[i];
            }
        }

        var point = Random.Shared.Next(total);
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany) && (point -= balancing.Weights[i]) < 0)
            {
                return i;
            }
        }

        return -1;
    }

    private static int Hashed(RouteEntry route, RouteBalancing balancing, HttpContext context, int candidates, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var value = balancing.Source.IsCookie
            ? context.Request.Cookies[balancing.Source.Name]
            : context.Request.Headers[balancing.Source.Name].ToString();
        if (string.IsNullOrEmpty(value))
        {
            return Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany);
        }

        var hash = RendezvousHash.Of(value);
        var best = -1;
        var bestScore = 0UL;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (!IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                continue;
            }

            var score = RendezvousHash.Score(hash, balancing.UrlHashes[i]);
            if (best < 0 || score > bestScore)
            {
                best = i;
                bestScore = score;
            }
        }

        return best;
    }
}
