using Hipache.Aspire.RouteStore;

namespace Hipache.Aspire.Router.Routing;

/// <summary>
/// A matched frontend as the hot path needs it: parsed backends and which of them are dead.
/// Immutable; a change replaces the whole entry.
/// </summary>
internal sealed class RouteEntry
{
    public RouteEntry(FrontendMatch match, string requestedHost, bool honourRequestedHostDeadSet, DeadMarkBook marks)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentNullException.ThrowIfNull(marks);
        FrontendKey = match.Frontend.Key;
        Identifier = match.Frontend.Identifier;
        Backends = [.. match.Frontend.Backends.Select(BackendAddress.Parse)];
        Dead = new bool[Backends.Length];
        marks.Apply(FrontendKey, match.DeadIndexes, Backends, Dead);
        if (honourRequestedHostDeadSet && requestedHost != FrontendKey)
        {
            marks.Apply(requestedHost, match.RequestedHostDeadIndexes, Backends, Dead);
        }

        LiveCount = Dead.Count(d => !d);
    }

    /// <summary>The key that matched (<c>www.example.com</c>, <c>*.example.com</c> or <c>*</c>).</summary>
    public string FrontendKey { get; }

    /// <summary>Element 0 of the list: the app's identifier, for logs and debug headers.</summary>
    public string Identifier { get; }

    public BackendAddress[] Backends { get; }

    /// <summary>Indexed like <see cref="Backends"/>: true when the dead set names it.</summary>
    public bool[] Dead { get; }

    public int LiveCount { get; }
}
