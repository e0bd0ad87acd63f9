using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
namespace Hipache.Aspire.TestSupport;

/// <summary>
/// The router as its own OS process (<c>dotnet Router.dll</c>), configured through environment
/// variables as an operator would, on ephemeral loopback ports. For what only a real process
/// shows: signal handling, the exit code, a process paused with SIGSTOP.
/// </summary>
public sealed partial class RouterProcess : IAsyncDisposable
{
    /// <summary>
    /// The forwarding path of every router in a test run (<c>Native</c> or <c>Yarp</c>); <c>.ci/run</c>
    /// runs Router.Tests once more with the other. A test's own <c>Router__Forwarder</c> setting wins.
    /// </summary>
    public const string ForwarderVariable = "HIPACHE_TEST_FORWARDER";

    /// <summary>The I/O engine of every router in a test run (<c>Epoll</c>, the default on Linux, or <c>Sockets</c>); <c>.ci/run</c> runs Router.Tests once on each.</summary>
    public const string IoEngineVariable = "HIPACHE_TEST_IO_ENGINE";

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<int> _listening = [];

    private RouterProcess(Process process) => _process = process;

    public int Port { get; private set; }

    public int ManagementPort { get; private set; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process wrote to stdout and stderr so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="routerDll">Router.dll of a build, with its runtimeconfig.json and deps beside it.</param>
    public static Task<RouterProcess> StartAsync(string routerDll, TestRedis redis, string prefix, IDictionary<string, string>? settings = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(redis);
        return StartAsync(routerDll, redis.ConnectionString, prefix, settings, ct);
    }

    /// <param name="routerDll">Router.dll of a build, with its runtimeconfig.json and deps beside it.</param>
    /// <param name="redisConnectionString">What the router gets as ConnectionStrings__redis (e.g. through Sentinels).</param>
    public static async Task<RouterProcess> StartAsync(string routerDll, string redisConnectionString, string prefix, IDictionary<string, string>? settings = null, CancellationToken ct = default)
    {
        if (!File.Exists(Path.ChangeExtension(routerDll, ".runtimeconfig.json")))
        {
            throw new InvalidOperationException($"{routerDll} has no runtimeconfig.json beside it; it cannot be started with dotnet.");
        }

        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(routerDll);

        // Settings an outer Aspire or ASP.NET run may have exported must not reach the child.
        foreach (var inherited in new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "HTTP_PORTS", "urls", "OTEL_EXPORTER_OTLP_ENDPOINT" })
        {
            info.Environment.Remove(inherited);
        }

        info.Environment["ConnectionStrings__redis"] = redisConnectionString;
        info.Environment["RouteStore__KeyPrefix"] = prefix;
        info.Environment["Router__Urls__0"] = "http://127.0.0.1:0";
        info.Environment["Router__ManagementAddress"] = "127.0.0.1";
        info.Environment["Router__ManagementPort"] = "0";
        if (Environment.GetEnvironmentVariable(ForwarderVariable) is { Length: > 0 } forwarder)
        {
            info.Environment["Router__Forwarder"] = forwarder;
        }

        if (Environment.GetEnvironmentVariable(IoEngineVariable) is { Length: > 0 } ioEngine)
        {
            info.Environment["Router__IoEngine"] = ioEngine;
        }

        // Kestrel's "Now listening on" lines are how the ephemeral ports are learnt.
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        foreach (var pair in settings ?? new Dictionary<string, string>())
        {
            info.Environment[pair.Key] = pair.Value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var router = new RouterProcess(process);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (router._output)
            {
                router._output.AppendLine(line);
                var listening = ListeningLine().Match(line);
                if (listening.Success)
                {
                    router._listening.Add(int.Parse(listening.Groups[1].Value, CultureInfo.InvariantCulture));
                }

                if (line.Contains("Application started", StringComparison.Ordinal))
                {
                    started.TrySetResult();
                }
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => started.TrySetResult();
        if (!process.Start())
        {
            throw new InvalidOperationException("The router process did not start.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await started.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The router exited with {process.ExitCode} at start:\n{router.Output}");
            }

            await router.LearnPortsAsync(ct);
            return router;
        }
        catch
        {
            await router.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends SIGTERM, as an orchestrator stopping the container does (Process.Kill sends SIGKILL).</summary>
    public Task SignalTermAsync(CancellationToken ct = default) => SignalAsync("TERM", ct);

    /// <summary>Sends a signal by name (TERM, STOP, CONT) with kill(1).</summary>
    public async Task SignalAsync(string signal, CancellationToken ct = default)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })
            ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync(ct);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {Id} exited with {kill.ExitCode}.");
        }
    }

    /// <summary>Waits for the process to end; false if it is still running after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        try
        {
            await _process.WaitForExitAsync(ct).WaitAsync(timeout, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }

        _process.Dispose();
    }

    private async Task LearnPortsAsync(CancellationToken ct)
    {
        int[] ports;
        lock (_output)
        {
            ports = [.. _listening];
        }

        if (ports.Length != 2)
        {
            throw new InvalidOperationException($"Expected two listeners (routed, management), the log shows {ports.Length}:\n{Output}");
        }

        // Only the management listener serves /alive; on the routed port it is a tenant's path.
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var port in ports)
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/alive"), ct);
            if (response.IsSuccessStatusCode)
            {
                ManagementPort = port;
            }
            else
            {
                Port = port;
            }
        }

        if (Port == 0 || ManagementPort == 0)
        {
            throw new InvalidOperationException($"Could not tell the routed port from the management port among {string.Join(", ", ports)}.");
        }
    }

    /// <summary>The dotnet host that runs this test: DOTNET_HOST_PATH, else the root above the running shared framework.</summary>
    private static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        // <root>/shared/Microsoft.NETCore.App/<version>/
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var candidate = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(candidate) ? candidate : "dotnet";
    }

    [GeneratedRegex(@"Now listening on: https?://[^\s]*:(\d+)\s*$")]
    private static partial Regex ListeningLine();
}
