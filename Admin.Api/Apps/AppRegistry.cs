using Hipache.Aspire.Admin.Apis;
using Hipache.Aspire.Admin.Validation;
using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Admin.Apps;

/// <summary>
/// Apps over frontends: an app is the set of frontend lists whose identifier is its name, found
/// through <see cref="AppIndex"/>. The lists are the truth and the index a hint kept as a superset
/// (hosts are indexed before they are written, unindexed after they are removed), so every read
/// verifies the indexed hosts against their lists and drops the ones that are no longer the app's.
/// </summary>
internal sealed partial class AppRegistry(RouteReader reader, RouteWriter writer, AppIndex index, ILogger<AppRegistry> logger)
{
    /// <summary>The app as its lists say, repairing the index on the way; null when it is unknown.</summary>
    public async Task<AppView?> GetAsync(string app, CancellationToken cancellationToken)
    {
        var (registered, indexed) = await index.ReadAsync(app, cancellationToken).ConfigureAwait(false);
        var frontends = await index.GetFrontendsAsync(indexed, cancellationToken).ConfigureAwait(false);
        var live = new List<Frontend>(indexed.Count);
        var stale = new List<string>();
        for (var i = 0; i < indexed.Count; i++)
        {
            if (frontends[i] is { } frontend && frontend.Identifier == app)
            {
                live.Add(frontend);
            }
            else
            {
                stale.Add(indexed[i]);
            }
        }

        if (stale.Count > 0)
        {
            // Deleted or handed to another identifier behind the API's back (redis-cli, Hipache tools).
            await index.RemoveHostsAsync(app, stale, cancellationToken).ConfigureAwait(false);
            LogIndexRepaired(logger, app, stale.Count, stale);
        }

        if (!registered && live.Count == 0)
        {
            return null;
        }

        if (!registered)
        {
            await index.AddHostsAsync(app, [], cancellationToken).ConfigureAwait(false);
        }

        return new AppView(app, [.. live.Select(f => f.Key)], [.. live.SelectMany(f => f.Backends).Distinct(StringComparer.Ordinal)]);
    }

    /// <summary>
    /// Makes the app exactly <paramref name="hosts"/> served by <paramref name="backends"/>. Hosts
    /// whose list has another identifier are refused, before anything is written, unless
    /// <paramref name="takeover"/>; each host's write re-checks ownership in its own script, so a
    /// host claimed by someone else meanwhile is still not overwritten (and is reported).
    /// </summary>
    public async Task<AppPutResult> PutAsync(string app, IReadOnlyList<string> hosts, IReadOnlyList<string> backends, bool takeover, CancellationToken cancellationToken)
    {
        var current = await index.GetFrontendsAsync(hosts, cancellationToken).ConfigureAwait(false);
        var owned = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < hosts.Count; i++)
        {
            if (current[i] is { } frontend && frontend.Identifier != app)
            {
                owned[hosts[i]] = frontend.Identifier;
            }
        }

        if (owned.Count > 0 && !takeover)
        {
            return new AppPutResult(AppPutOutcome.Conflict, null, owned);
        }

        var (registered, indexed) = await index.ReadAsync(app, cancellationToken).ConfigureAwait(false);
        await index.AddHostsAsync(app, hosts, cancellationToken).ConfigureAwait(false);

        var guard = new FrontendCondition(null, takeover ? null : app);
        var results = await Task.WhenAll(hosts.Select(h => writer.WriteFrontendAsync(h, app, backends, guard, cancellationToken))).ConfigureAwait(false);
        var raced = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < hosts.Count; i++)
        {
            var previous = results[i].PreviousIdentifier;
            if (results[i].Outcome == FrontendOutcome.OwnerConflict)
            {
                raced[hosts[i]] = previous!;
            }
            else if (previous is not null && previous != app)
            {
                // Taken over: the former owner's index no longer lists it.
                await index.RemoveHostsAsync(previous, [hosts[i]], cancellationToken).ConfigureAwait(false);
            }
        }

        var dropped = indexed.Except(hosts, StringComparer.Ordinal).ToArray();
        await Task.WhenAll(dropped.Select(h => writer.DeleteFrontendAsync(h, new FrontendCondition(null, app), cancellationToken))).ConfigureAwait(false);
        await index.RemoveHostsAsync(app, [.. dropped, .. raced.Keys], cancellationToken).ConfigureAwait(false);

        var view = new AppView(app, [.. hosts.Where(h => !raced.ContainsKey(h))], backends);
        return raced.Count > 0
            ? new AppPutResult(AppPutOutcome.Conflict, view, raced)
            : new AppPutResult(registered ? AppPutOutcome.Updated : AppPutOutcome.Created, view, owned);
    }

    /// <summary>Deletes every frontend that is still the app's, then the app. Null when it is unknown.</summary>
    public async Task<AppView?> DeleteAsync(string app, CancellationToken cancellationToken)
    {
        var view = await GetAsync(app, cancellationToken).ConfigureAwait(false);
        if (view is null)
        {
            return null;
        }

        await Task.WhenAll(view.Hosts.Select(h => writer.DeleteFrontendAsync(h, new FrontendCondition(null, app), cancellationToken))).ConfigureAwait(false);
        await index.RemoveAppAsync(app, cancellationToken).ConfigureAwait(false);
        return view;
    }

    /// <summary>Appends the backend to every host of the app (each host atomically, no duplicates). Null when the app is unknown.</summary>
    public async Task<AppView?> AddBackendAsync(string app, string url, CancellationToken cancellationToken)
    {
        var view = await GetAsync(app, cancellationToken).ConfigureAwait(false);
        if (view is null)
        {
            return null;
        }

        await Task.WhenAll(view.Hosts.Select(h => writer.AddBackendAsync(h, url, cancellationToken))).ConfigureAwait(false);
        return await GetAsync(app, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the backend from every host of the app; null when the app is unknown, else how many hosts had it.</summary>
    public async Task<int?> RemoveBackendAsync(string app, string url, CancellationToken cancellationToken)
    {
        var view = await GetAsync(app, cancellationToken).ConfigureAwait(false);
        if (view is null)
        {
            return null;
        }

        var changes = await Task.WhenAll(view.Hosts.Select(h => writer.RemoveBackendAsync(h, url, cancellationToken))).ConfigureAwait(false);
        return changes.Count(c => c == BackendChange.Changed);
    }

    /// <summary>A page of apps in name order, each verified like <see cref="GetAsync"/>.</summary>
    public async Task<(IReadOnlyList<AppView> Items, string? Last, bool More)> ListAsync(string? after, int limit, CancellationToken cancellationToken)
    {
        var (names, more) = await index.ListAsync(after, limit, cancellationToken).ConfigureAwait(false);
        var views = await Task.WhenAll(names.Select(n => GetAsync(n, cancellationToken))).ConfigureAwait(false);
        return ([.. views.OfType<AppView>()], names.Count > 0 ? names[^1] : null, more);
    }

    /// <summary>
    /// Keeps the index true after a write through <c>/v1/frontends</c>: the host belongs to
    /// <paramref name="owner"/> now (null once deleted) and no longer to <paramref name="previous"/>.
    /// </summary>
    public async Task TrackAsync(string host, string? owner, string? previous, CancellationToken cancellationToken)
    {
        if (owner is not null)
        {
            await index.AddHostsAsync(owner, [host], cancellationToken).ConfigureAwait(false);
        }

        if (previous is not null && previous != owner)
        {
            await index.RemoveHostsAsync(previous, [host], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Rebuilds the index from the lists themselves, for when it was lost or the lists were written
    /// by other tools: every frontend (one SCAN walk) is indexed under its identifier when that is
    /// a valid app name, then every registered app is read, which drops what is no longer true.
    /// </summary>
    public async Task<AppIndexRebuild> RebuildAsync(CancellationToken cancellationToken)
    {
        var byApp = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var scanned = 0;
        ScanPosition? position = ScanPosition.Start;
        while (position is { } from)
        {
            var page = await reader.ScanFrontendsAsync("*", from, RouteValidation.MaxPageSize, cancellationToken).ConfigureAwait(false);
            foreach (var frontend in page.Items)
            {
                scanned++;
                if (RouteValidation.IsValidApp(frontend.Identifier, out _))
                {
                    (byApp.TryGetValue(frontend.Identifier, out var hosts) ? hosts : byApp[frontend.Identifier] = []).Add(frontend.Key);
                }
            }

            position = page.Next;
        }

        await Task.WhenAll(byApp.Select(a => index.AddHostsAsync(a.Key, a.Value.Distinct(StringComparer.Ordinal).ToArray(), cancellationToken))).ConfigureAwait(false);

        var apps = 0;
        string? after = null;
        bool more;
        do
        {
            (var items, after, more) = await ListAsync(after, RouteValidation.MaxPageSize, cancellationToken).ConfigureAwait(false);
            apps += items.Count;
        }
        while (more);

        var indexed = byApp.Sum(a => a.Value.Count);
        LogIndexRebuilt(logger, scanned, indexed, apps);
        return new AppIndexRebuild(scanned, indexed, apps);
    }

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "App index rebuilt: {Frontends} frontend(s) scanned, {Hosts} host(s) indexed, {Apps} app(s)")]
    private static partial void LogIndexRebuilt(ILogger logger, int frontends, int hosts, int apps);

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "App index of {App} repaired: {Count} host(s) no longer the app's: {Hosts}")]
    private static partial void LogIndexRepaired(ILogger logger, string app, int count, IEnumerable<string> hosts);
}

internal enum AppPutOutcome
{
    Created,
    Updated,
    Conflict,
}

/// <summary>What a PUT did; <see cref="Owners"/> names the hosts of other apps it refused or took over.</summary>
internal sealed record AppPutResult(AppPutOutcome Outcome, AppView? View, IReadOnlyDictionary<string, string> Owners);
