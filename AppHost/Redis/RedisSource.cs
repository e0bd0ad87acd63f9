using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Reflection;

namespace Hipache.Aspire.AppHost.Redis;

/// <summary>Where the routing table's Redis comes from (DESIGN "AppHost").</summary>
internal enum RedisSourceKind
{
    External,
    Container,
    RedisServer,
    Garnet,
}

/// <summary>
/// Chooses and adds the <c>redis</c> resource, in this order: a configured connection string; a
/// container when a container runtime answers (always when publishing, so that azd deploys a
/// real Redis); a local <c>redis-server</c>; the embedded Garnet host. <c>Redis:Mode</c>
/// (auto | external | container | redis-server | garnet) overrides the choice. It must be made
/// before <c>Build()</c>: Aspire has no public way to ask, and a Redis container on a machine
/// without an engine never starts, leaving everything that waits for it waiting forever.
/// </summary>
internal static class RedisSource
{
    public const string ResourceName = "redis";

    public static (IResourceBuilder<IResourceWithConnectionString> Redis, RedisSourceKind Kind, string Reason) Add(IDistributedApplicationBuilder builder)
    {
        var (kind, reason) = Choose(builder);
        IResourceBuilder<IResourceWithConnectionString> redis = kind switch
        {
            RedisSourceKind.External => builder.AddConnectionString(ResourceName),
            RedisSourceKind.Container => builder.AddRedis(ResourceName),
            RedisSourceKind.RedisServer => AddLocal(builder, FindOnPath("redis-server")!, ctx =>
            {
                ctx.Args.Add("--port");
                ctx.Args.Add(((LocalRedisResource)ctx.Resource).Endpoint.Property(EndpointProperty.TargetPort));
                ctx.Args.Add("--bind");
                ctx.Args.Add("127.0.0.1");
                // A development table: nothing to persist, nothing to protect beyond loopback.
                ctx.Args.Add("--save");
                ctx.Args.Add(string.Empty);
                ctx.Args.Add("--appendonly");
                ctx.Args.Add("no");
            }),
            _ => AddLocal(builder, "dotnet", ctx =>
            {
                ctx.Args.Add("run");
                ctx.Args.Add("--project");
                ctx.Args.Add(Metadata("GarnetHostProject"));
                ctx.Args.Add("--no-build");
                ctx.Args.Add("-c");
                ctx.Args.Add(Metadata("BuildConfiguration"));
                ctx.Args.Add("--");
                ctx.Args.Add("--port");
                ctx.Args.Add(((LocalRedisResource)ctx.Resource).Endpoint.Property(EndpointProperty.TargetPort));
            }),
        };
        return (redis, kind, reason);
    }

    private static (RedisSourceKind Kind, string Reason) Choose(IDistributedApplicationBuilder builder)
    {
        var mode = (builder.Configuration["Redis:Mode"] ?? "auto").Trim().ToLowerInvariant();
        var hasConnectionString = !string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(ResourceName));
        switch (mode)
        {
            case "external":
                return hasConnectionString
                    ? (RedisSourceKind.External, "Redis:Mode=external")
                    : throw new InvalidOperationException("Redis:Mode=external needs ConnectionStrings:redis (ConnectionStrings__redis).");
            case "container":
                return (RedisSourceKind.Container, "Redis:Mode=container");
            case "redis-server":
                return FindOnPath("redis-server") is not null
                    ? (RedisSourceKind.RedisServer, "Redis:Mode=redis-server")
                    : throw new InvalidOperationException("Redis:Mode=redis-server, but no redis-server is on PATH.");
            case "garnet":
                return (RedisSourceKind.Garnet, "Redis:Mode=garnet");
            case "auto":
                break;
            default:
                throw new InvalidOperationException($"Redis:Mode '{mode}' is not one of auto, external, container, redis-server, garnet.");
        }

        if (hasConnectionString)
        {
            return (RedisSourceKind.External, "ConnectionStrings:redis is configured");
        }

        if (builder.ExecutionContext.IsPublishMode)
        {
            return (RedisSourceKind.Container, "publishing: the deployment gets a Redis container");
        }

        if (ContainerRuntimeAnswers())
        {
            return (RedisSourceKind.Container, "a container runtime is available");
        }

        return FindOnPath("redis-server") is not null
            ? (RedisSourceKind.RedisServer, "no container runtime; redis-server is installed")
            : (RedisSourceKind.Garnet, "no container runtime and no redis-server: embedded Garnet");
    }

    private static IResourceBuilder<IResourceWithConnectionString> AddLocal(IDistributedApplicationBuilder builder, string command, Action<CommandLineArgsCallbackContext> args)
    {
        var resource = new LocalRedisResource(ResourceName, command, builder.AppHostDirectory);
        var healthCheckKey = $"{ResourceName}-ping";
        builder.Services.AddHealthChecks().AddCheck(healthCheckKey, new RespPingHealthCheck(resource.Endpoint));
        return builder.AddResource(resource)
            .WithEndpoint(name: LocalRedisResource.EndpointName, scheme: "tcp")
            .WithArgs(args)
            .WithHealthCheck(healthCheckKey)
            .ExcludeFromManifest();
    }

    /// <summary><c>docker info</c> (or the runtime named by ASPIRE_CONTAINER_RUNTIME) exits 0 only when an engine answers.</summary>
    private static bool ContainerRuntimeAnswers()
    {
        var runtime = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME") ?? "docker";
        if (FindOnPath(runtime) is null)
        {
            return false;
        }

        try
        {
            using var process = Process.Start(new ProcessStartInfo(runtime, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return false;
            }

            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static string? FindOnPath(string program)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string Metadata(string key) =>
        typeof(RedisSource).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"The AppHost was built without the {key} metadata.");
}
