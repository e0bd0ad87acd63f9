using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Forwarding;

/// <summary>
/// Picks the backend of one attempt by the frontend's policy (<see cref="RouteBalancing"/>),
/// among live backends not yet tried by this request. Without a policy, Hipache's choice:
/// uniformly at random (hipache-compat 4.2). When every backend is marked dead, or every live
/// one was tried, Safe mode chooses among the marked ones too (panic mode, Q19); Hipache mode
/// finds none. A backend a sticky-session cookie names comes first while it is a candidate.
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
        var candidates = Candidates(route, ignoreDead, tried, triedMany);
        if (candidates == 0 && !ignoreDead && !hipacheMode)
        {
            // Safe mode: every live backend was tried and refused. A mark is a hint, not proof
            // (its backend may be back; ejections last up to MaxEjectionTime): the marked ones
            // get the remaining attempts before the 502 (Q19).
            ignoreDead = true;
            candidates = Candidates(route, ignoreDead, tried, triedMany);
        }

        if (candidates == 0)
        {
            return -1;
        }

        if (preferred >= 0 && IsCandidate(route, preferred, ignoreDead, tried, triedMany))
        {
            return preferred;
        }

        if (route.Balancing is { SlowStartMs: > 0, Policy: not BalancingPolicy.Hash } ramped && IsRamping(route, ramped.SlowStartMs, ignoreDead, tried, triedMany))
        {
            return ramped.Policy == BalancingPolicy.LeastRequests
                ? LeastRequests(route, candidates, ignoreDead, tried, triedMany, ramped.SlowStartMs)
                : WeightedDraw(route, ramped, ignoreDead, tried, triedMany);
        }

        return route.Balancing switch
        {
            null => Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.RoundRobin } balancing => Nth(route, (int)(balancing.NextTurn() % (uint)candidates), ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.LeastRequests } => LeastRequests(route, candidates, ignoreDead, tried, triedMany),
            { Policy: BalancingPolicy.Weighted } balancing => WeightedDraw(route, balancing, ignoreDead, tried, triedMany),
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

    private static int Candidates(RouteEntry route, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var candidates = 0;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                candidates++;
            }
        }

        return candidates;
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

    /// <summary>
    /// Slow start: the share of a backend that came back (or appeared) less than the frontend's
    /// slow start ago, as a factor from 0.1 to 1 growing linearly with its time back.
    /// </summary>
    private static double Ramp(BackendAddress backend, long slowStartMs, long now)
    {
        var age = now - backend.LiveSince;
        return age >= slowStartMs ? 1 : Math.Max(0.1, age / (double)slowStartMs);
    }

    private static bool IsRamping(RouteEntry route, long slowStartMs, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var now = Environment.TickCount64;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany) && now - route.Backends[i].LiveSince < slowStartMs)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A draw in proportion to each candidate's weight (weighted policy; 1 otherwise) times its
    /// slow-start ramp (1 when none runs): the weighted policy, and every draw-based policy while
    /// a backend ramps up (round-robin's turns resume after).
    /// </summary>
    private static int WeightedDraw(RouteEntry route, RouteBalancing balancing, bool ignoreDead, ulong tried, bool[]? triedMany)
    {
        var now = Environment.TickCount64;
        var weighted = balancing.Policy == BalancingPolicy.Weighted;
        var total = 0.0;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                total += (weighted ? balancing.Weights[i] : 1) * Ramp(route.Backends[i], balancing.SlowStartMs, now);
            }
        }

        var point = Random.Shared.NextDouble() * total;
        var last = -1;
        for (var i = 0; i < route.Backends.Length; i++)
        {
            if (!IsCandidate(route, i, ignoreDead, tried, triedMany))
            {
                continue;
            }

            last = i;
            if ((point -= (weighted ? balancing.Weights[i] : 1) * Ramp(route.Backends[i], balancing.SlowStartMs, now)) < 0)
            {
                return i;
            }
        }

        return last;
    }

    /// <summary>
    /// Power of two choices: of two distinct candidates drawn at random, the one with fewer
    /// requests in flight (during a slow start, in flight divided by the ramp: a ramping backend
    /// looks busier).
    /// </summary>
    private static int LeastRequests(RouteEntry route, int candidates, bool ignoreDead, ulong tried, bool[]? triedMany, long slowStartMs = 0)
    {
        var first = Nth(route, Random.Shared.Next(candidates), ignoreDead, tried, triedMany);
        if (candidates == 1)
        {
            return first;
        }

        // The second draw skips the first's rank, so the two are distinct.
        var rank = Random.Shared.Next(candidates - 1);
        var second = Nth(route, rank >= RankOf(route, first, ignoreDead, tried, triedMany) ? rank + 1 : rank, ignoreDead, tried, triedMany);
        if (slowStartMs > 0)
        {
            var now = Environment.TickCount64;
            return (route.Backends[second].InFlight + 1) / Ramp(route.Backends[second], slowStartMs, now)
                < (route.Backends[first].InFlight + 1) / Ramp(route.Backends[first], slowStartMs, now) ? second : first;
        }

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
