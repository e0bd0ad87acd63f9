using System.Net;
using System.Net.Http.Json;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>No lost update: many clients changing one host's list at once all land (issue 5).</summary>
public sealed class ConcurrencyTests(AdminApiFixture fixture)
{
    private const int Clients = 32;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Thirty_two_clients_adding_a_thousand_backends_to_one_host_lose_none_and_duplicate_none()
    {
        var host = $"busy.c{Guid.NewGuid():N}.test";
        using (var setup = fixture.CreateClient())
        {
            Assert.Equal(HttpStatusCode.Created, (await setup.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "busy", backends = Array.Empty<string>() }, Ct)).StatusCode);
        }

        var urls = Enumerable.Range(0, 1000).Select(i => $"http://10.{5 + (i / 250)}.{i % 250}.1:8080").ToArray();
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            using var client = fixture.CreateClient();
            // Every client also re-adds a URL another client adds: duplicates must be no-ops.
            for (var i = c; i < urls.Length; i += Clients)
            {
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/v1/frontends/{host}/backends", new { url = urls[i] }, Ct)).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync($"/v1/frontends/{host}/backends", new { url = urls[(i + 1) % urls.Length] }, Ct)).StatusCode);
            }
        }, Ct)));

        var backends = (await ListAsync(host)).Skip(1).ToArray();
        Assert.Equal(1000, backends.Length);
        Assert.Equal(urls.Order(StringComparer.Ordinal), backends.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Concurrent_adds_and_removes_on_one_host_all_land()
    {
        var host = $"churn.c{Guid.NewGuid():N}.test";
        var initial = Enumerable.Range(0, 200).Select(i => $"http://10.9.0.{i}:8080").ToArray();
        var added = Enumerable.Range(0, 200).Select(i => $"http://10.9.1.{i}:8080").ToArray();
        using (var setup = fixture.CreateClient())
        {
            await setup.PutAsJsonAsync($"/v1/frontends/{host}", new { app = "churn", backends = initial }, Ct);
        }

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            using var client = fixture.CreateClient();
            for (var i = c / 2; i < 200; i += Clients / 2)
            {
                var response = c % 2 == 0
                    ? await client.DeleteAsync($"/v1/frontends/{host}/backends?url={Uri.EscapeDataString(initial[i])}", Ct)
                    : await client.PostAsJsonAsync($"/v1/frontends/{host}/backends", new { url = added[i] }, Ct);
                Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}");
            }
        }, Ct)));

        Assert.Equal(added.Order(StringComparer.Ordinal), (await ListAsync(host)).Skip(1).Order(StringComparer.Ordinal));
    }

    private async Task<string[]> ListAsync(string host)
    {
        await using var redis = await fixture.Redis.ConnectAsync();
        return [.. (await redis.GetDatabase().ListRangeAsync(fixture.Prefix + "frontend:" + host)).Select(v => v.ToString())];
    }
}
