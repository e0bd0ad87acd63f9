using Hipache.Aspire.Router;

// Before any socket exists (System.Net.Sockets reads it once).
RuntimeTuning.Apply();
var app = RouterApplication.Create(args);
if (args.Contains("--dry") || args.Contains("-d"))
{
    // Hipache's --dry: load and validate everything, print the resolved settings, exit.
    Console.WriteLine(RouterApplication.DescribeConfiguration(app));
    return;
}

await app.RunAsync();
