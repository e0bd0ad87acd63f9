using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.TestSupport;

/// <summary>
/// A real Kestrel backend on an ephemeral loopback port. By default it answers
/// <c>backend=&lt;name&gt;</c> and echoes the request headers it received as <c>x-seen-*</c>.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, string name, int port)
    {
        _app = app;
        Name = name;
        Port = port;
    }

    public string Name { get; }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <param name="port">0 for an ephemeral port; a former backend's port to bring it back.</param>
    public static async Task<TestBackend> StartAsync(string name, RequestDelegate? handler = null, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port);
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        app.UseWebSockets();
        app.Run(handler ?? (context => DefaultAsync(context, name)));
        await app.StartAsync();
        return new TestBackend(app, name, new Uri(app.Urls.First()).Port);
    }

    private static async Task DefaultAsync(HttpContext context, string name)
    {
        foreach (var header in context.Request.Headers)
        {
            context.Response.Headers["x-seen-" + header.Key.ToLowerInvariant()] = header.Value;
        }

        context.Response.Headers["x-seen-path"] = context.Request.Path + context.Request.QueryString;
        context.Response.Headers["x-seen-raw-target"] = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        await context.Response.WriteAsync($"backend={name}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
