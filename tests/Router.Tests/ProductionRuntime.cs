using System.Runtime.CompilerServices;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The in-process routers run as <c>dotnet Router.dll</c> does: RuntimeTuning's socket setting
/// must be in place before this process opens its first socket, so it is set when the test
/// assembly (the entry point) loads. <c>HIPACHE_TEST_INLINE=0</c> runs the suite without it.
/// </summary>
internal static class ProductionRuntime
{
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "Must run before any socket of the test process exists.")]
    internal static void Apply()
    {
        if (Environment.GetEnvironmentVariable("HIPACHE_TEST_INLINE") != "0")
        {
            RuntimeTuning.Apply();
        }
    }
}
