using System.Runtime.InteropServices;

namespace Hipache.Aspire.Router.Io;

/// <summary>The libc calls of the readiness-first I/O loop; Linux.</summary>
internal static unsafe partial class Libc
{
    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 1u << 31;
    public const int CtlAdd = 1;
    public const int CtlDel = 2;
    public const int SockNonBlock = 0x800;
    public const int SockCloexec = 0x80000;
    public const int MsgNoSignal = 0x4000;
    public const int ErrInterrupted = 4;
    public const int ErrAgain = 11;
    public const int ErrConnectionAborted = 103;
    public const int IpProtoTcp = 6;
    public const int SolSocket = 1;
    public const int SoReuseAddr = 2;
    public const int TcpNoDelay = 1;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, byte* e);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, byte* address, int* addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static partial int GetSockOpt(int fd, int level, int name, int* value, int* length);

    /// <summary>SO_ERROR: the pending error of a socket (a non-blocking connect's outcome), as an errno.</summary>
    public static int PendingError(int fd)
    {
        int value = 0, length = sizeof(int);
        return GetSockOpt(fd, 1, 4, &value, &length) == 0 ? value : Marshal.GetLastPInvokeError();
    }

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    public static partial int GetSockName(int fd, byte* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, ref int value, int length);

    /// <summary>
    /// SO_REUSEADDR alone: a restarted router binds past connections still in TIME_WAIT. Not
    /// .NET's ReuseAddress, which on Linux sets SO_REUSEPORT as well: a second router started on
    /// the same port then bound beside the first and silently took half its connections.
    /// </summary>
    public static void ReuseAddressOnly(int fd)
    {
        var one = 1;
        if (SetSockOpt(fd, SolSocket, SoReuseAddr, ref one, sizeof(int)) != 0)
        {
            throw Errno.ToSocketException(Marshal.GetLastPInvokeError());
        }
    }

    public static void NoDelay(int fd)
    {
        var one = 1;
        _ = SetSockOpt(fd, IpProtoTcp, TcpNoDelay, ref one, sizeof(int));
    }
}
