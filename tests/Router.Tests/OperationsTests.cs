using System.Diagnostics.Metrics;
using Hipache.Aspire.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>hipache-compat 2.8 (read/write driver split), 7 (pages folder), Q23, Q24 and the metrics' cardinality.</summary>
public sealed class OperationsTests(RedisFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Section2_8_lookups_use_the_first_driver_url_and_dead_marks_the_last()
    {
        await using var write = await TestRedis.StartAsync();
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var live = await TestBackend.StartAsync("live");
        var stopped = await TestBackend.StartAsync("stopped");
        var stoppedUrl = stopped.Url;
        await stopped.DisposeAsync();

        await using var router = await RunningRouter.StartWithArgsAsync([], prefix, new Dictionary<string, string?>
        {
            ["RouteStore:Driver:0"] = $"redis://127.0.0.1:{fixture.Redis.Port}#{prefix}",
            ["RouteStore:Driver:1"] = $"redis://127.0.0.1:{write.Port}",
            ["Router:Urls:0"] = "http://127.0.0.1:0",
        });
        await using var readConnection = await fixture.Redis.ConnectAsync();
        await using var writeConnection = await write.ConnectAsync();
        await router.RpushAsync(readConnection.GetDatabase(), "split.test", "split", live.Url, stoppedUrl);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(200, (await router.GetTextAsync("split.test")).Status);
        }

        // The prefix comes from the first URL only; the mark goes to the write server.
        await Poll.UntilAsync(() => writeConnection.GetDatabase().SetMembersAsync(prefix + "dead:split.test"), m => m.Length == 1, what: "the mark on the write server");
        Assert.Empty(await readConnection.GetDatabase().SetMembersAsync(prefix + "dead:split.test"));
    }

    [Fact]
    public async Task Section7_pages_come_from_the_configured_folder_with_the_default_page_as_fallback_and_Q23_status()
    {
        var folder = Directory.CreateTempSubdirectory("hipache-pages-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "error_404.html"), "<html>custom unknown host</html>", Ct);
            await File.WriteAllTextAsync(Path.Combine(folder, "error_default.html"), "<html>custom default</html>", Ct);
            await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?>
            {
                ["Router:StaticDir"] = folder,
                ["Router:UnknownHostStatus"] = "404",
            });
            await using var redis = await fixture.Redis.ConnectAsync();
            await router.RpushAsync(redis.GetDatabase(), "empty.test", "empty");

            Assert.Equal((404, "<html>custom unknown host</html>"), await router.GetTextAsync("unknown.test"));
            Assert.Equal((502, "<html>custom default</html>"), await router.GetTextAsync("empty.test"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Section7_without_pages_the_message_is_sent_as_text()
    {
        var folder = Directory.CreateTempSubdirectory("hipache-nopages-").FullName;
        try
        {
            await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:StaticDir"] = folder });
            using var response = await router.GetAsync("unknown.test");
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("frontend not found", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(18, response.Content.Headers.ContentLength);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Request_metrics_have_no_tenant_tag_unless_asked_for()
    {
        await using var backend = await TestBackend.StartAsync("A");
        foreach (var perFrontend in new[] { false, true })
        {
            await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:PerFrontendMetrics"] = perFrontend.ToString() });
            await using var redis = await fixture.Redis.ConnectAsync();
            await router.RpushAsync(redis.GetDatabase(), "metrics.test", "m", backend.Url);

            var tags = new System.Collections.Concurrent.ConcurrentBag<string>();
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "hipache.router.requests" && instrument.Meter.Scope == router.Services.GetRequiredService<IMeterFactory>())
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, _, measurementTags, _) =>
            {
                foreach (var tag in measurementTags)
                {
                    tags.Add($"{tag.Key}={tag.Value}");
                }
            });
            listener.Start();

            Assert.Equal(200, (await router.GetTextAsync("metrics.test")).Status);
            Assert.Contains("http.response.status_class=2xx", tags);
            Assert.Equal(perFrontend, tags.Contains("hipache.frontend=metrics.test"));
        }
    }
}
