using System.Net;
using System.Net.Http.Json;
using Hipache.Aspire.TestSupport;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>
/// A write that reaches a server which is no longer a primary (a Sentinel failover in progress:
/// READONLY) is a 503 with Retry-After and problem+json, like an unreachable Redis, not a 500;
/// writes go through again once a primary takes them. Found by bench/failover.sh.
/// </summary>
public sealed class FailoverRefusalTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_write_refused_by_a_read_only_replica_is_503_and_writes_resume_on_a_primary()
    {
        await using var own = new AdminApiFixture();
        await own.InitializeAsync();
        if (own.Redis.Kind != "redis-server")
        {
            Assert.Skip($"needs redis-server (REPLICAOF), not {own.Redis.Kind}");
        }

        using var client = own.CreateClient();
        using (var first = await client.PutAsJsonAsync("/v1/frontends/ro.test", new { app = "ro", backends = new[] { "http://10.0.0.1:80" } }, Ct))
        {
            Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        }

        await using var redis = await own.Redis.ConnectAsync();
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        // A replica of a primary that does not answer: read-only, as a replica is mid-failover.
        // Port 9 (discard) on loopback: nothing answers there, so the replica never syncs.
        await server.ExecuteAsync("REPLICAOF", "127.0.0.1", "9");
        try
        {
            using var refused = await client.PostAsJsonAsync("/v1/frontends/ro.test/backends", new { url = "http://10.0.0.2:80" }, Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal("2", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            await server.ExecuteAsync("REPLICAOF", "NO", "ONE");
        }

        await Poll.UntilAsync(
            async () =>
            {
                using var response = await client.PostAsJsonAsync("/v1/frontends/ro.test/backends", new { url = "http://10.0.0.2:80" }, Ct);
                return response.StatusCode;
            },
            s => s == HttpStatusCode.OK,
            TimeSpan.FromSeconds(20),
            "writes accepted again on a primary");
    }
}
