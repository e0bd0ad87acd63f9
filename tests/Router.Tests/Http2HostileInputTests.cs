using System.Net;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Hostile HTTP/2 clients on the routed h2c listener, frames written by hand
/// (<see cref="RawHttp2Connection"/>). Kestrel's HTTP/2 limits apply unchanged (its defaults:
/// 100 concurrent streams per connection, 32 KiB of request headers); these tests pin what it
/// really does with them in front of the router (read from Kestrel's Http2Connection), and that
/// the router keeps serving everyone else.
/// </summary>
public sealed class Http2HostileInputTests(RedisFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rapid_reset_streams_opened_and_reset_by_the_thousand_end_in_goaway_and_others_are_still_served()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" });
        var reached = 0;
        await using var held = await TestBackend.StartAsync("held", async context =>
        {
            Interlocked.Increment(ref reached);
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await using var plain = await TestBackend.StartAsync("plain");
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "reset.test", "reset", held.Url);
        await router.RpushAsync(redis.GetDatabase(), "other.test", "other", plain.Url);
        var port = H2cPort(router);

        // CVE-2023-44487: each stream costs the server a request (here: a route lookup and a
        // backend request) and the client nothing. Kestrel has two defences, both ending the
        // connection with a GOAWAY; which one fires first is a race between its frame loop and the
        // requests' ends. (1) It keeps reset streams tracked until their request ends; beyond
        // twice the stream limit (200) it refuses new ones with ENHANCE_YOUR_CALM, and after
        // 5 x 20 of those within 5 s sends GOAWAY(ENHANCE_YOUR_CALM). (2) Its output queue (the
        // frames it owes the client, bounded at the same 200) overflows when streams are reset
        // faster than they are cleared: GOAWAY(INTERNAL_ERROR), "exceeded the output operations
        // maximum queue size" (Http2FrameWriter.Schedule).
        const int Streams = 20_000;
        await using var attacker = await RawHttp2Connection.OpenAsync(port, Ct);
        var calmResets = 0;
        var reader = Task.Run(async () =>
        {
            while (await attacker.ReadFrameAsync(Ct) is { } frame)
            {
                if (frame.Type == H2.RstStream && frame.ErrorCode == H2.EnhanceYourCalm)
                {
                    calmResets++;
                }
                else if (frame.Type == H2.GoAway)
                {
                    return frame;
                }
            }

            return null;
        }, Ct);

        var sent = 0;
        try
        {
            for (var stream = 1; sent < Streams && !reader.IsCompleted; )
            {
                using var batch = new MemoryStream();
                for (var i = 0; i < 250; i++, sent++, stream += 2)
                {
                    RawHttp2Connection.WriteRequest(batch, stream, "reset.test");
                    RawHttp2Connection.WriteRstStream(batch, stream, H2.Cancel);
                }

                await attacker.SendAsync(batch.ToArray(), Ct);
            }
        }
        catch (IOException)
        {
            // The server closed the connection under our writes: what is expected.
        }

        // The server ends the connection (a well-behaved client's connection is never ended):
        // with a GOAWAY, or with a bare close when the reset (Kestrel aborts the socket under the
        // attacker's writes) overtakes the GOAWAY in the attacker's receive buffer. The attacker's
        // writes may all have gone into socket buffers by then: their count proves nothing.
        var goAway = await reader.WaitAsync(Patience, Ct);
        TestContext.Current.SendDiagnosticMessage($"rapid reset: {(goAway is null ? "closed" : $"GOAWAY({goAway.ErrorCode})")} after {sent} streams, {calmResets} refused with ENHANCE_YOUR_CALM, {Volatile.Read(ref reached)} reached the backend");
        if (goAway is not null)
        {
            Assert.Contains(goAway.ErrorCode, new[] { H2.EnhanceYourCalm, H2.InternalError });
            Assert.Null(await attacker.ReadUntilAsync(_ => false, Patience, Ct));
        }

        // Everyone else is still served, in HTTP/2 and HTTP/1.1.
        Assert.Equal("backend=plain", await GetH2Async(port, "other.test"));
        Assert.Equal((200, "backend=plain"), await router.GetTextAsync("other.test"));
    }

    [Fact]
    public async Task A_header_block_over_the_limit_is_431_on_its_stream_and_twice_the_limit_ends_the_connection()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" });
        await using var backend = await TestBackend.StartAsync("a");
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "big.test", "big", backend.Url);
        var port = H2cPort(router);

        // Kestrel's MaxRequestHeadersTotalSize, 32 KiB, as for HTTP/1.1: 10 fields of 4000 bytes
        // is over it but under twice it: the stream is answered 431 and the connection goes on
        // (the block was decoded whole, so the connection's HPACK state is intact).
        await using (var connection = await RawHttp2Connection.OpenAsync(port, Ct))
        {
            using var frames = new MemoryStream();
            RawHttp2Connection.WriteRequest(frames, 1, "big.test", extra: LargeHeaders(10));
            RawHttp2Connection.WriteRequest(frames, 3, "big.test");
            await connection.SendAsync(frames.ToArray(), Ct);

            var first = await connection.ReadUntilAsync(f => f.Type == H2.Headers && f.StreamId == 1, Patience, Ct);
            Assert.NotNull(first);
            Assert.Equal(431, first.Status);
            var second = await connection.ReadUntilAsync(f => f.Type == H2.Headers && f.StreamId == 3, Patience, Ct);
            Assert.NotNull(second);
            Assert.Equal(200, second.Status);
        }

        // Over twice the limit Kestrel stops decoding: a connection error (GOAWAY PROTOCOL_ERROR).
        await using (var connection = await RawHttp2Connection.OpenAsync(port, Ct))
        {
            using var frames = new MemoryStream();
            RawHttp2Connection.WriteRequest(frames, 1, "big.test", extra: LargeHeaders(20));
            await connection.SendAsync(frames.ToArray(), Ct);
            var goAway = await connection.ReadUntilAsync(f => f.Type == H2.GoAway || (f.Type == H2.Headers && f.StreamId == 1), Patience, Ct);
            Assert.NotNull(goAway);
            Assert.Equal(H2.GoAway, goAway.Type);
            Assert.Equal(H2.ProtocolError, goAway.ErrorCode);
        }

        Assert.Equal("backend=a", await GetH2Async(port, "big.test"));
    }

    [Fact]
    public async Task Streams_beyond_the_advertised_limit_are_refused_and_the_connection_goes_on()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = 0;
        await using var backend = await TestBackend.StartAsync("held", async context =>
        {
            Interlocked.Increment(ref holding);
            await release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("released");
        });
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "streams.test", "streams", backend.Url);
        var port = H2cPort(router);

        await using var connection = await RawHttp2Connection.OpenAsync(port, Ct);
        var settings = await connection.ReadUntilAsync(f => f.Type == H2.Settings && (f.Flags & 0x1) == 0, Patience, Ct);
        Assert.NotNull(settings);
        var limit = MaxConcurrentStreams(settings);
        Assert.Equal(100, limit);

        // limit streams held open by the backend, then one more: refused (the client may retry it).
        using (var frames = new MemoryStream())
        {
            for (var i = 0; i < limit; i++)
            {
                RawHttp2Connection.WriteRequest(frames, 1 + 2 * i, "streams.test");
            }

            await connection.SendAsync(frames.ToArray(), Ct);
        }

        await Poll.UntilAsync(() => Task.FromResult(Volatile.Read(ref holding)), n => n == limit, Patience, $"{limit} requests to reach the backend");
        var extra = 1 + 2 * limit;
        using (var frames = new MemoryStream())
        {
            RawHttp2Connection.WriteRequest(frames, extra, "streams.test");
            await connection.SendAsync(frames.ToArray(), Ct);
        }

        var refused = await connection.ReadUntilAsync(f => f.StreamId == extra, Patience, Ct);
        Assert.NotNull(refused);
        Assert.Equal(H2.RstStream, refused.Type);
        Assert.Equal(H2.RefusedStream, refused.ErrorCode);
        Assert.Equal(limit, Volatile.Read(ref holding));

        // The held streams complete once the backend answers, and the connection takes new ones.
        release.SetResult();
        var answered = new HashSet<int>();
        while (answered.Count < limit)
        {
            var frame = await connection.ReadUntilAsync(f => f.Type == H2.Headers, Patience, Ct);
            Assert.NotNull(frame);
            Assert.Equal(200, frame.Status);
            answered.Add(frame.StreamId);
        }

        using (var frames = new MemoryStream())
        {
            RawHttp2Connection.WriteRequest(frames, extra + 2, "streams.test");
            await connection.SendAsync(frames.ToArray(), Ct);
        }

        var after = await connection.ReadUntilAsync(f => f.StreamId == extra + 2, Patience, Ct);
        Assert.NotNull(after);
        Assert.Equal(H2.Headers, after.Type);
        Assert.Equal(200, after.Status);
    }

    private static IEnumerable<(string, string)> LargeHeaders(int count) =>
        Enumerable.Range(0, count).Select(i => ($"x-large-{i}", new string('a', 4000)));

    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS of a SETTINGS frame (6-byte entries: id, value).</summary>
    private static int MaxConcurrentStreams(H2Frame settings)
    {
        for (var offset = 0; offset + 6 <= settings.Payload.Length; offset += 6)
        {
            if (System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(settings.Payload.AsSpan(offset)) == H2.MaxConcurrentStreams)
            {
                return (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(settings.Payload.AsSpan(offset + 2));
            }
        }

        return -1;
    }

    private static int H2cPort(RunningRouter router) => router.Services.GetRequiredService<RouterListeners>().RoutedPorts[1];

    private static async Task<string> GetH2Async(int port, string host)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }
}
