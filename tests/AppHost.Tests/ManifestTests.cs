using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace Hipache.Aspire.AppHost.Tests;

/// <summary>What azd deploys: Redis as a container, Router and Admin.Api as projects, nothing local.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task Publish_manifest_has_redis_container_and_the_two_projects_only()
    {
        var ct = TestContext.Current.CancellationToken;
        var output = Path.Combine(Path.GetTempPath(), $"hipache-manifest-{Guid.NewGuid():N}.json");
        var project = Projects.AppHost.ProjectPath;
        var configuration = typeof(ManifestTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "run", "--project", project, "--no-build", "-c", configuration, "--", "--publisher", "manifest", "--output-path", output })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.True(process.ExitCode == 0, $"manifest publish failed: {await stdout}{await stderr}");

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(output, ct));
        File.Delete(output);
        var resources = manifest.RootElement.GetProperty("resources");
        string TypeOf(string name) => resources.GetProperty(name).GetProperty("type").GetString()!;

        Assert.Equal("container.v0", TypeOf("redis"));
        Assert.Equal("project.v0", TypeOf("router"));
        Assert.Equal("project.v0", TypeOf("admin"));
        Assert.True(resources.GetProperty("router").GetProperty("bindings").GetProperty("http").GetProperty("external").GetBoolean());
        Assert.Equal("{redis.connectionString}", resources.GetProperty("router").GetProperty("env").GetProperty("ConnectionStrings__redis").GetString());

        var kinds = resources.EnumerateObject().Select(r => (r.Name, Type: r.Value.GetProperty("type").GetString())).ToList();
        Assert.DoesNotContain(kinds, r => r.Type is "executable.v0");
        Assert.DoesNotContain(kinds, r => r.Name.StartsWith("demo-", StringComparison.Ordinal));
        Assert.Equal(["redis"], kinds.Where(r => r.Type == "container.v0").Select(r => r.Name));
        Assert.Equal(["admin", "router"], kinds.Where(r => r.Type == "project.v0").Select(r => r.Name).Order());
        Assert.Equal("parameter.v0", TypeOf("admin-api-key"));
        Assert.Equal("parameter.v0", TypeOf("certificate-store-key"));
        Assert.Equal("{certificate-store-key.value}", resources.GetProperty("router").GetProperty("env").GetProperty("CertificateStore__Keys__k1").GetString());
        // The dev run's self-signed certificate and its HTTPS port stay local.
        Assert.False(resources.GetProperty("router").GetProperty("env").TryGetProperty("Router__Tls__0__Cert", out _));
    }
}
