using System.Net.Sockets;

namespace Hipache.Aspire.Router.Io;

/// <summary>Linux errno values as the <see cref="SocketError"/> the rest of the router tests for.</summary>
internal static class Errno
{
    public static SocketException ToSocketException(int errno) => new((int)ToSocketError(errno));

    public static SocketError ToSocketError(int errno) => errno switch
    {
        11 => SocketError.WouldBlock,
        4 => SocketError.Interrupted,
        9 => SocketError.OperationAborted,
        32 => SocketError.Shutdown,
        99 => SocketError.AddressNotAvailable,
        101 => SocketError.NetworkUnreachable,
        103 => SocketError.ConnectionAborted,
        104 => SocketError.ConnectionReset,
        107 => SocketError.NotConnected,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        113 => SocketError.HostUnreachable,
        115 => SocketError.InProgress,
        _ => SocketError.SocketError,
    };
}
