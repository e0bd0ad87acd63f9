using Garnet;
using Microsoft.Extensions.Logging;

// An embedded Redis-compatible server (Microsoft Garnet) for machines without redis-server or a
// container engine, so that `dotnet run --project AppHost` needs nothing but the .NET SDK.
// Arguments are Garnet's own (--port, --bind, ...); small memory settings keep it near 80 MB.
// Lua is on because the admin API's atomic backend edits are scripts.
string[] defaults = ["--bind", "127.0.0.1", "--port", "6379", "--lua", "-m", "64m", "-i", "16m"];
var port = Environment.GetEnvironmentVariable("GARNET_PORT");
string[] effective = [.. defaults, .. port is null ? [] : new[] { "--port", port }, .. args];

using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
using var server = new GarnetServer(effective, loggerFactory);
server.Start();
Console.WriteLine($"Garnet is listening ({string.Join(' ', effective)}).");

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
