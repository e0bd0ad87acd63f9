namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>No connection to the backend could be made (refused, unreachable, unresolvable, connect timeout): nothing reached it.</summary>
internal sealed class BackendConnectException(Exception inner) : IOException(inner.Message, inner);
