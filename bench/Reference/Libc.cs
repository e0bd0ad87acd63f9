using System.Runtime.InteropServices;

/// <summary>The libc calls and constants of the readiness-first references (EpollRelay, EpollTransportFactory); Linux x86-64.</summary>
internal static unsafe partial class Libc
{
    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const int CtlAdd = 1;
    public const int CtlDel = 2;
    public const int CtlMod = 3;
    public const int SockNonBlock = 0x800;
    public const int SockCloexec = 0x80000;
    public const int MsgNoSignal = 0x4000;
    public const int MsgPeek = 0x2;
    public const int ErrInterrupted = 4;
    public const int ErrAgain = 11;
    public const int IpProtoTcp = 6;
    public const int TcpNoDelay = 1;

    /// <summary>struct epoll_event, packed on x86-64.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* e);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, IntPtr address, IntPtr addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, ref int value, int length);

    /// <summary>Sets TCP_NODELAY on an accepted socket.</summary>
    public static void NoDelay(int fd)
    {
        var one = 1;
        _ = SetSockOpt(fd, IpProtoTcp, TcpNoDelay, ref one, sizeof(int));
    }
}
