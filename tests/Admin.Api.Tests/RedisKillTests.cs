using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hipache.Aspire.TestSupport;
using StackExchange.Redis;

namespace Hipache.Aspire.Admin.Tests;

/// <summary>
/// Redis killed under concurrent writes: every answer is a 2xx or a 503 problem, and every
/// frontend Redis holds afterwards is whole, the state of one request's complete write, never part
/// of one. With a persistent redis-server (acknowledged writes survive the kill) it is also the
/// state the acknowledged writes promise: no acknowledged write lost, none applied out of order.
/// </summary>
public sealed class RedisKillTests
{
    private const int Writers = 8;
    private const int Outages = 3;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_redis_under_concurrent_writes_leaves_every_frontend_whole()
    {
        await using var service = new AdminApiFixture { PersistentRedis = true };
        await service.InitializeAsync();
        TestContext.Current.SendDiagnosticMessage($"{service.Redis.Kind}, persistent: {service.Redis.Persistent}");
        var logs = Enumerable.Range(0, Writers).Select(w => new WriterLog(w)).ToArray();
        var unexpected = new ConcurrentQueue<string>();
        await using var redis = await service.Redis.ConnectAsync();

        // Several outages: each kill lands wherever the writers happen to be, so more kills, more
        // chances to catch a write in the middle.
        for (var outage = 1; outage <= Outages; outage++)
        {
            using var stop = new CancellationTokenSource();
            var target = logs.Select(l => l.Acknowledged + 10).ToArray();
            var failedBefore = logs.Select(l => l.Failed).ToArray();
            var writers = logs.Select(log => Task.Run(() => WriteUntilStoppedAsync(service, log, unexpected, stop.Token), Ct)).ToArray();
            await Poll.UntilAsync(() => Task.FromResult(logs.Count(l => l.Acknowledged >= target[l.Writer])), n => n == Writers, TimeSpan.FromSeconds(30), "every writer to have written");

            await service.Redis.StopAsync();
            await Poll.UntilAsync(() => Task.FromResult(logs.Count(l => l.Failed > failedBefore[l.Writer])), n => n == Writers, TimeSpan.FromSeconds(60), "every writer to have seen Redis down");
            await stop.CancelAsync();
            await Task.WhenAll(writers);

            await service.Redis.StartAgainAsync();
            Assert.Empty(unexpected);
            var db = redis.GetDatabase();
            await Poll.UntilAsync(IsUpAsync, up => up, TimeSpan.FromSeconds(30), "the test's own connection to come back");
            foreach (var log in logs)
            {
                var list = (await db.ListRangeAsync(service.Prefix + "frontend:" + log.Host)).Select(v => v.ToString()).ToArray();
                TestContext.Current.SendDiagnosticMessage($"outage {outage}, {log.Host}: {log.Acknowledged} acknowledged, {log.Failed} refused with 503, now [{string.Join(", ", list)}]");
                if (service.Redis.Persistent)
                {
                    log.AssertIsTheStateOfItsWrites(list);
                }
                else
                {
                    // Garnet comes back empty: nothing to check but that nothing partial came back.
                    Assert.True(list.Length == 0 || log.IsWhole(list, out _), $"{log.Host}: [{string.Join(", ", list)}]");
                }
            }

            if (!service.Redis.Persistent)
            {
                break;
            }
        }

        async Task<bool> IsUpAsync()
        {
            try
            {
                await redis.GetDatabase().PingAsync();
                return true;
            }
            catch (RedisException)
            {
                return false;
            }
        }
    }

    private static async Task WriteUntilStoppedAsync(AdminApiFixture service, WriterLog log, ConcurrentQueue<string> unexpected, CancellationToken stop)
    {
        using var client = service.CreateClient();
        if (log.NextId == 0)
        {
            // The first write must land: it is the state every later one builds on.
            using var first = await client.PutAsJsonAsync($"/v1/frontends/{log.Host}", log.PutBody(0), Ct);
            Assert.Equal(HttpStatusCode.Created, first.StatusCode);
            log.Record(0, isPut: true, acknowledged: true);
        }

        for (var id = log.NextId; !stop.IsCancellationRequested; id++)
        {
            // Two PUTs (a whole new list of 2-6 backends) for one POST (one more backend).
            var isPut = id % 3 != 0;
            using var response = isPut
                ? await client.PutAsJsonAsync($"/v1/frontends/{log.Host}", log.PutBody(id), Ct)
                : await client.PostAsJsonAsync($"/v1/frontends/{log.Host}/backends", new { url = log.Appended(id) }, Ct);
            if (response.IsSuccessStatusCode)
            {
                log.Record(id, isPut, acknowledged: true);
                continue;
            }

            log.Record(id, isPut, acknowledged: false);
            var body = await response.Content.ReadAsStringAsync(Ct);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable
                || response.Content.Headers.ContentType?.MediaType != "application/problem+json"
                || JsonDocument.Parse(body).RootElement.GetProperty("status").GetInt32() != 503)
            {
                unexpected.Enqueue($"{log.Host} request {id}: {(int)response.StatusCode} {response.Content.Headers.ContentType} {body}");
            }
        }
    }

    /// <summary>One writer's host and the requests it made, in order (one at a time, so the order is the order applied).</summary>
    private sealed class WriterLog(int writer)
    {
        public int Writer => writer;

        public int NextId
        {
            get
            {
                lock (_requests)
                {
                    return _requests.Count == 0 ? 0 : _requests[^1].Id + 1;
                }
            }
        }

        private readonly List<(int Id, bool IsPut, bool Acknowledged)> _requests = [];
        private int _acknowledged;
        private int _failed;

        public string Host { get; } = $"w{writer}.kill.test";

        public int Acknowledged => Volatile.Read(ref _acknowledged);

        public int Failed => Volatile.Read(ref _failed);

        public static int BackendCount(int id) => 2 + (id % 5);

        public object PutBody(int id) => new { app = $"w{writer}-p{id}", backends = PutBackends(id) };

        public string[] PutBackends(int id) =>
            [.. Enumerable.Range(0, BackendCount(id)).Select(i => $"http://p{id}-{i}-of-{BackendCount(id)}.w{writer}.kill.test:8080")];

        public string Appended(int id) => $"http://a{id}.w{writer}.kill.test:8080";

        public void Record(int id, bool isPut, bool acknowledged)
        {
            lock (_requests)
            {
                _requests.Add((id, isPut, acknowledged));
            }

            Interlocked.Increment(ref acknowledged ? ref _acknowledged : ref _failed);
        }

        /// <summary>
        /// [identifier of PUT p, its complete list, then backends appended by POSTs after p, in
        /// request order]. Returns p and the POST ids.
        /// </summary>
        public bool IsWhole(string[] list, out (int Put, int[] Posts) state)
        {
            state = default;
            var prefix = $"w{writer}-p";
            if (list.Length == 0 || !list[0].StartsWith(prefix, StringComparison.Ordinal) || !int.TryParse(list[0].AsSpan(prefix.Length), out var put))
            {
                return false;
            }

            var backends = PutBackends(put);
            if (list.Length < 1 + backends.Length || !list.AsSpan(1, backends.Length).SequenceEqual(backends))
            {
                return false;
            }

            var posts = new List<int>();
            foreach (var url in list.Skip(1 + backends.Length))
            {
                var id = posts.Count > 0 ? posts[^1] + 1 : put + 1;
                while (id < put + 10_000 && Appended(id) != url)
                {
                    id++;
                }

                if (Appended(id) != url || id % 3 != 0)
                {
                    return false;
                }

                posts.Add(id);
            }

            state = (put, [.. posts]);
            return true;
        }

        public void AssertIsTheStateOfItsWrites(string[] list)
        {
            Assert.True(IsWhole(list, out var state), $"{Host} is not the whole state of one write: [{string.Join(", ", list)}]");
            lock (_requests)
            {
                var made = _requests.ToDictionary(r => r.Id);
                Assert.True(made.TryGetValue(state.Put, out var put) && put.IsPut, $"{Host}: list of PUT {state.Put}, never sent");
                Assert.All(state.Posts, id => Assert.True(made.ContainsKey(id), $"{Host}: backend of POST {id}, never sent"));
                foreach (var later in _requests.Where(r => r.Acknowledged && r.Id > state.Put))
                {
                    // Acknowledged after the PUT that is there: it must be there too (durable, in order).
                    Assert.False(later.IsPut, $"{Host}: PUT {later.Id} was acknowledged but Redis holds the older PUT {state.Put}");
                    Assert.Contains(later.Id, state.Posts);
                }
            }
        }
    }
}
