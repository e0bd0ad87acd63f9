using Microsoft.AspNetCore.Connections;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using StackExchange.Redis;
using Yarp.ReverseProxy.Forwarder;

// Reference targets for ../shared/bench (see bench/reference-cmd.sh): the floors the router is
// measured against in the same run as haproxy.
//   kestrel    Kestrel answering 100 bytes itself: the cost of HTTP/1.1 in and out of .NET, no forwarding.
//   forwarder  Kestrel + one SocketsHttpHandler + IHttpForwarder with HttpTransformer.Empty, hosts
//              resolved from Hipache's frontend:<host> lists once and kept forever (no change
//              handling, no dead marks, no wildcards): the cost of bare YARP forwarding.
//   raw        Kestrel's socket transport with no HTTP layer: a connection handler that finds the
//              head's end and its Host, sends the head as it came to a pooled backend connection,
//              and relays a Content-Length response (RawForwarder). Only what ../shared/bench sends
//              (bodiless GETs, Content-Length answers); no forwarding headers, no validation: the
//              floor of a .NET proxy on Kestrel's transport, below Kestrel's HTTP/1.1 layer. Run
//              with the router's runtime settings (socket continuations inline).
//   epoll      the raw relay's work on one thread that waits for readiness before each read (epoll
//              through P/Invoke; no .NET socket engine, no Kestrel): EpollRelay. Whether the raw
//              floor's distance to haproxy is the socket engine's or the runtime's.
//   kestrel-inline  "kestrel" with the router's transport settings (socket continuations inline,
//              no zero-byte reads): the socket-transport side of the next comparison.
//   kestrel-epoll  "kestrel" on EpollTransportFactory: Kestrel's HTTP layer over a transport that
//              reads only what epoll says is ready (what a readiness-first transport is worth).
// No logging, no telemetry, no health endpoints: nothing but the request.
var mode = args.Length > 0 ? args[0] : throw new ArgumentException("usage: Reference kestrel|kestrel-inline|kestrel-epoll|forwarder|raw|epoll (ROUTER_PORT, REDIS_PORT from the environment)");
var port = int.Parse(Environment.GetEnvironmentVariable("ROUTER_PORT") ?? "21080", System.Globalization.CultureInfo.InvariantCulture);
var redisAddress = $"127.0.0.1:{Environment.GetEnvironmentVariable("REDIS_PORT") ?? "6379"}";
if (mode == "epoll")
{
    var store = await ConnectionMultiplexer.ConnectAsync(redisAddress);
    new EpollRelay(store.GetDatabase(), port).Run();
    return;
}

if (mode is "raw" or "kestrel-inline")
{
    // As the router's RuntimeTuning, before the first socket exists.
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
RawForwarder? raw = null;
if (mode == "kestrel-inline")
{
    // The router's socket transport settings (RouterApplication): continuations inline, no zero-byte reads.
    builder.WebHost.UseSockets(s =>
    {
        s.UnsafePreferInlineScheduling = true;
        s.WaitForDataBeforeAllocatingBuffer = false;
    });
}

if (mode == "raw")
{
    var redis = await ConnectionMultiplexer.ConnectAsync(redisAddress);
    raw = new RawForwarder(redis.GetDatabase());
    builder.WebHost.UseSockets(s =>
    {
        s.UnsafePreferInlineScheduling = true;
        s.WaitForDataBeforeAllocatingBuffer = false;
    });
}

builder.WebHost.ConfigureKestrel(k =>
{
    k.AddServerHeader = false;
    if (raw is not null)
    {
        k.Listen(IPAddress.Loopback, port, listen => listen.Run(raw.HandleAsync));
    }
    else
    {
        k.Listen(IPAddress.Loopback, port);
    }
});

switch (mode)
{
    case "kestrel":
    case "kestrel-inline":
    case "kestrel-epoll":
    {
        if (mode == "kestrel-epoll")
        {
            // Registered after the socket transport: Kestrel binds with the last factory registered.
            builder.Services.AddSingleton<IConnectionListenerFactory, EpollTransportFactory>();
        }

        var app = builder.Build();
        var body = Encoding.ASCII.GetBytes(new string('x', 99) + "\n");
        app.Run(context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = body.Length;
            return context.Response.Body.WriteAsync(body).AsTask();
        });
        await app.RunAsync();
        break;
    }

    case "forwarder":
    {
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var redis = await ConnectionMultiplexer.ConnectAsync(redisAddress);
        var db = redis.GetDatabase();
        var routes = new ConcurrentDictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        using var client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            MaxConnectionsPerServer = 100,
        });
        var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30) };
        app.Run(async context =>
        {
            var host = context.Request.Host.Host;
            if (!routes.TryGetValue(host, out var backends))
            {
                var list = await db.ListRangeAsync("frontend:" + host);
                backends = [.. list.Skip(1).Select(v => v.ToString())];
                routes[host] = backends;
            }

            if (backends.Length == 0)
            {
                context.Response.StatusCode = 404;
                return;
            }

            await forwarder.SendAsync(context, backends[Random.Shared.Next(backends.Length)], client, config, HttpTransformer.Empty);
        });
        await app.RunAsync();
        break;
    }

    case "raw":
    {
        await builder.Build().RunAsync();
        break;
    }

    default:
        throw new ArgumentException($"unknown mode {mode}: kestrel, kestrel-inline, kestrel-epoll, forwarder, raw or epoll");
}
