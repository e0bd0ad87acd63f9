using Hipache.Aspire.Router.AccessLog;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Forwarding;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.RouteStore;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Hipache.Aspire.Router;

/// <summary>Builds the router: the routed pipeline is one terminal handler; management endpoints live on their own port.</summary>
public static class RouterApplication
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Request smuggling: a bare LF as line terminator is refused (400), not read leniently; a
        // proxy must not parse framing more loosely than the strictest backend behind it.
        AppContext.SetSwitch("Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators", true);

        var hipacheConfigPath = HipacheConfigFile.FindPath(args);
        args = HipacheConfigFile.StripOwnArguments(args);

        // Content root = the app's folder, so appsettings.json (log levels!) and the bundled error
        // pages are found whatever directory the router is started from.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);

        // Hipache's config file sits below environment variables and the command line, which still override it.
        HipacheConfigFile? hipacheConfig = null;
        if (hipacheConfigPath is not null)
        {
            hipacheConfig = HipacheConfigFile.Load(hipacheConfigPath, !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("redis")));
            var sources = builder.Configuration.Sources;
            // Just above the last settings file (appsettings*.json, user secrets), below everything after it.
            var lastFile = sources.Select((source, index) => (source, index))
                .LastOrDefault(s => s.source is Microsoft.Extensions.Configuration.FileConfigurationSource, (null!, -1)).index;
            sources.Insert(lastFile + 1, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = hipacheConfig.Settings });
        }

        // A span per routed request only when sampled (Telemetry:TraceSampleRatio, appsettings.json);
        // ASP.NET Core's own per-request Activity stays off (and its hosting log at None).
        builder.AddServiceDefaults(ServerSpans.Sampled, RouterMetrics.MeterName);
        builder.AddRouteStore(unreachableStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded);

        builder.Services.AddSingleton<IValidateOptions<RouterOptions>, RouterOptionsValidator>();
        builder.Services.AddOptions<RouterOptions>()
            .Bind(builder.Configuration.GetSection(RouterOptions.SectionName))
            .ValidateOnStart();

        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RouterMetrics>();
        builder.Services.AddSingleton<RouterGauges>();
        builder.Services.AddSingleton<DeadMarkBook>();
        builder.Services.AddSingleton<ChangeFeed>();
        builder.Services.AddSingleton<RouteCache>();
        builder.Services.AddSingleton<BackendHealth>();
        builder.Services.AddSingleton<CheckerHeartbeatMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<CheckerHeartbeatMonitor>());
        builder.Services.AddSingleton<KeyspaceChanges>();
        builder.Services.AddSingleton<RouteChangeListener>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RouteChangeListener>());
        builder.Services.AddSingleton<DirectKeyspaceSubscriber>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DirectKeyspaceSubscriber>());
        builder.Services.AddHostedService<ChangeFeedProbe>();
        builder.Services.AddHealthChecks().AddCheck<RouteCacheHealthCheck>("route-cache", tags: ["ready"]);
        builder.Services.AddHostedService<StoreIdentityWatcher>();
        builder.Services.AddSingleton<RouterInstance>();
        builder.Services.AddHostedService<RouterAnnouncer>();
        builder.Services.AddSingleton<DeadBackendReporter>();
        builder.Services.AddSingleton<ForwarderClient>();
        builder.Services.AddSingleton<ForwardedHeaders>();
        builder.Services.AddSingleton<ForwardingTransformer>();
        builder.Services.AddSingleton<Forwarding.Native.BackendConnectionPools>();
        builder.Services.AddSingleton<Forwarding.Native.RequestHeadWriter>();
        builder.Services.AddSingleton<Forwarding.Native.NativeForwarder>();
        builder.Services.AddSingleton<ErrorPageWriter>();
        builder.Services.AddSingleton<AccessLogWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AccessLogWriter>());
        builder.Services.AddSingleton<FrontendConcurrencyLimiter>();
        builder.Services.AddSingleton<HealthChecks.ActiveHealthChecker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<HealthChecks.ActiveHealthChecker>());
        builder.Services.AddSingleton<StickySessions>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StickySessions>());
        builder.Services.AddSingleton<ProxyHandler>();
        builder.Services.AddSingleton<Tls.CertificateSelector>();

        var listeners = new RouterListeners();
        builder.Services.AddSingleton(listeners);
        var routerOptions = builder.Configuration.GetSection(RouterOptions.SectionName).Get<RouterOptions>() ?? new RouterOptions();
        var routedUrls = RouterListeners.ResolveRoutedUrls(routerOptions, builder.Configuration);
        // The listeners are bound explicitly below; clearing urls avoids Kestrel's "overriding" warning.
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.WebHost.UseSockets(sockets =>
        {
            // With socket continuations inline (RuntimeTuning), Kestrel's pipes run inline too: no
            // thread-pool hop between a read and the request code. The router's request path never
            // blocks, which is what makes this safe.
            sockets.UnsafePreferInlineScheduling = RuntimeTuning.InlineCompletions;
            // Receive into a buffer straight away instead of a zero-byte read first: one syscall
            // less per request, for 4 KB held per connection while it waits.
            sockets.WaitForDataBeforeAllocatingBuffer = routerOptions.WaitForDataBeforeAllocatingBuffer;
        });
        if (routerOptions.IoEngine == IoEngineKind.Epoll && OperatingSystem.IsLinux())
        {
            // Registered after UseSockets: Kestrel asks the last transport first; Unix-socket
            // endpoints fall through to the socket transport (EpollTransportFactory.CanBind).
            builder.Services.AddSingleton<Io.EpollLoops>();
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, Io.EpollTransportFactory>();
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            listeners.Configure(kestrel, routerOptions, routedUrls, kestrel.ApplicationServices.GetRequiredService<Tls.CertificateSelector>());
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = routerOptions.MaxRequestBodySize;
            kestrel.Limits.RequestHeadersTimeout = routerOptions.RequestHeadersTimeout;
            kestrel.Limits.MinRequestBodyDataRate = routerOptions.MinRequestBodyDataRate > 0
                ? new MinDataRate(routerOptions.MinRequestBodyDataRate, routerOptions.MinDataRateGracePeriod)
                : null;
            kestrel.Limits.MinResponseDataRate = routerOptions.MinResponseDataRate > 0
                ? new MinDataRate(routerOptions.MinResponseDataRate, routerOptions.MinDataRateGracePeriod)
                : null;
            // Hipache's tcpTimeout is also the client keep-alive idle timeout (hipache-compat 5.5).
            if (routerOptions.TcpTimeout > TimeSpan.Zero)
            {
                kestrel.Limits.KeepAliveTimeout = routerOptions.TcpTimeout;
            }
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = routerOptions.DrainTimeout);

        var app = builder.Build();
        if (hipacheConfig is not null)
        {
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Hipache.Aspire.Router.Configuration");
            RouterLog.HipacheConfigLoaded(log, hipacheConfig.Path);
            foreach (var note in hipacheConfig.Notes)
            {
                RouterLog.HipacheConfigNote(log, note);
            }
        }

        var proxy = app.Services.GetRequiredService<ProxyHandler>();
        app.Services.GetRequiredService<RouterGauges>();

        // Everything that did not arrive on the management port is routed traffic: one branch,
        // no routing or endpoint middleware on the hot path.
        app.MapWhen(context => context.Connection.LocalPort != listeners.ManagementPort, routed => routed.Run(proxy.InvokeAsync));
        app.UseRouting();
        app.MapDefaultEndpoints();
        return app;
    }

    /// <summary>The resolved, validated settings as JSON, passwords removed (for <c>--dry</c>).</summary>
    public static string DescribeConfiguration(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var router = app.Services.GetRequiredService<IOptions<RouterOptions>>().Value;
        var store = app.Services.GetRequiredService<IOptions<RouteStoreOptions>>().Value;
        var described = new
        {
            Router = router,
            RouteStore = new
            {
                ConnectionString = store.ConnectionString is null ? null : StoreEndpoint.Redact(store.ConnectionString),
                Driver = store.Driver.Select(StoreEndpoint.Redact).ToArray(),
                store.KeyPrefix,
                store.OperationTimeout,
                store.ConnectTimeout,
            },
        };
        return System.Text.Json.JsonSerializer.Serialize(described, DescribeJson);
    }

    private static readonly System.Text.Json.JsonSerializerOptions DescribeJson = new() { WriteIndented = true };
}
