using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The forwarding path every router in this run uses: <c>HIPACHE_TEST_FORWARDER</c> (<c>Native</c>
/// or <c>Yarp</c>), else the router's default; and its I/O: <c>HIPACHE_TEST_IO_ENGINE</c>
/// (<c>Epoll</c>, the default on Linux, or <c>Sockets</c>). <c>.ci/run</c> runs the suite once more
/// with the other path and once more on the socket transport, so every test covers each (a
/// matrix, not a copy). A test's own <c>Router:Forwarder</c> or <c>Router:IoEngine</c> setting
/// still wins.
/// </summary>
internal static class TestForwarder
{
    public const string Variable = RouterProcess.ForwarderVariable;

    public static string? Configured { get; } = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static string? IoEngine { get; } = Environment.GetEnvironmentVariable(RouterProcess.IoEngineVariable) is { Length: > 0 } value ? value : null;
}
