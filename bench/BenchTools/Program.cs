using Hipache.Aspire.BenchTools;

// Load tools for bench/scale.sh and bench/admin-throughput.sh, and bench/faults.sh's backend. They start nothing: the
// scripts start Redis, the backend, the router and the admin API, then call these.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Out.Write(Usage.Text);
    return args.Length == 0 ? 2 : 0;
}

try
{
    var options = CommandLine.Parse(args.AsSpan(1));
    return args[0] switch
    {
        "load" => await FrontendLoader.RunAsync(FrontendLoaderOptions.From(options), stop.Token),
        "admin-churn" => await AdminChurn.RunAsync(AdminChurnOptions.From(options), stop.Token),
        "backend" => await FaultBackend.RunAsync(options, stop.Token),
        "certs" => await CertificateLoader.RunAsync(options, stop.Token),
        "handshakes" => await Handshakes.RunAsync(options, stop.Token),
        "dead-marks" => await DeadMarkPropagation.RunAsync(options, stop.Token),
        _ => throw new ArgumentException($"Unknown command '{args[0]}'."),
    };
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.Write(Usage.Text);
    return 2;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("Interrupted.");
    return 130;
}
