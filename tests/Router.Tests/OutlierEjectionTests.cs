using Hipache.Aspire.RouteStore;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Safe mode's outlier ejection: failures in a row must fall within Router:FailureWindow, each
/// ejection soon after the previous one lasts twice as long (capped), and no more than
/// Router:MaxEjectedPercent of a frontend's backends are ejected at once. Round-robin makes
/// which backend a request reaches certain.
/// </summary>
public sealed class OutlierEjectionTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private static readonly RequestDelegate BadGateway = context =>
    {
        context.Response.StatusCode = 502;
        return context.Response.WriteAsync("broken");
    };

    private async Task<RunningRouter> RouterAsync(params (string Key, string Value)[] settings) =>
        await StartRouterAsync(new Dictionary<string, string?> { ["Router:Compatibility"] = "Safe", ["Router:RetryOnError"] = "0" }, settings);

    private static Task RoundRobinAsync(RunningRouter router, string host) =>
        router.Services.GetRequiredService<RouteWriter>().SetBalancingAsync(host, new Balancing(BalancingPolicy.RoundRobin, null, new Dictionary<string, int>()), Ct);

    [Fact]
    public async Task Failures_further_apart_than_the_window_never_eject_and_a_quick_run_does()
    {
        var router = await RouterAsync(("Router:FailureWindow", "00:00:01"), ("Router:EjectAfter", "3"));
        var healthy = await StartBackendAsync("healthy");
        var broken = await StartBackendAsync("broken", BadGateway);
        await router.RpushAsync(Db, "window.test", "window", healthy.Url, broken.Url);
        await RoundRobinAsync(router, "window.test");
        var dead = router.Prefix + "dead:window.test";

        // One failure every 600 ms or more: the third of a run is always past the window.
        for (var failures = 0; failures < 5;)
        {
            if ((await router.GetTextAsync("window.test")).Status == 502)
            {
                failures++;
                await Task.Delay(600, Ct);
            }
        }

        Assert.Empty(await Db.SetMembersAsync(dead));

        // Past the window, a quick run: its third failure ejects.
        await Task.Delay(1100, Ct);
        var quick = 0;
        await Poll.UntilAsync(
            async () =>
            {
                quick += (await router.GetTextAsync("window.test")).Status == 502 ? 1 : 0;
                return await Db.SetMembersAsync(dead);
            },
            marks => marks.Length > 0,
            TimeSpan.FromSeconds(10),
            "the quick run's ejection");
        // The mark is written just after the third failure's answer: one more request may reach the backend.
        Assert.InRange(quick, 3, 4);
    }

    [Fact]
    public async Task Each_ejection_soon_after_the_last_lasts_twice_as_long_up_to_the_cap()
    {
        var router = await RouterAsync(("Router:EjectAfter", "1"), ("Router:DeadBackendTtl", "00:00:01"), ("Router:MaxEjectionTime", "00:00:03"));
        var healthy = await StartBackendAsync("healthy");
        var broken = await StartBackendAsync("broken", BadGateway);
        await router.RpushAsync(Db, "grow.test", "grow", healthy.Url, broken.Url);
        await RoundRobinAsync(router, "grow.test");
        var dead = router.Prefix + "dead:grow.test";
        var writer = router.Services.GetRequiredService<RouteWriter>();

        // TTLs read just after each mark (a loaded machine may take a few hundred ms to look).
        foreach (var (low, high) in new[] { (300, 1000), (1300, 2000), (2300, 3000) })
        {
            await Poll.UntilAsync(() => router.GetTextAsync("grow.test"), r => r.Status == 502, what: "a request on the broken backend");
            await Poll.UntilAsync(() => Db.KeyExistsAsync(dead), exists => exists, what: "the ejection");
            var ttl = (await Db.KeyTimeToLiveAsync(dead))!.Value.TotalMilliseconds;
            Assert.InRange(ttl, low, high);

            // Readmitted by hand (as if its time were up): the next ejection comes soon after this one.
            await Db.KeyDeleteAsync(dead);
            await writer.PublishChangeAsync("grow.test");
        }
    }

    [Fact]
    public async Task No_more_than_the_allowed_share_of_backends_is_ejected_when_all_fail()
    {
        var router = await RouterAsync(("Router:EjectAfter", "1"), ("Router:MaxEjectedPercent", "50"));
        var urls = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            urls.Add((await StartBackendAsync($"broken{i}", BadGateway)).Url);
        }

        await router.RpushAsync(Db, "cap.test", ["cap", .. urls]);
        await RoundRobinAsync(router, "cap.test");
        var dead = router.Prefix + "dead:cap.test";
        for (var i = 0; i < 40; i++)
        {
            Assert.Equal(502, (await router.GetTextAsync("cap.test")).Status);
        }

        // Every backend failed, but an outage of them all is not theirs: half at most.
        Assert.Equal(2, (await Poll.UntilAsync(() => Db.SetMembersAsync(dead), m => m.Length >= 2, what: "two ejections")).Length);
        for (var i = 0; i < 20; i++)
        {
            await router.GetTextAsync("cap.test");
        }

        Assert.Equal(2, (await Db.SetMembersAsync(dead)).Length);
    }
}
