using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// HTTP/2 clients (here on the h2c listener) to HTTP/1.1 backends: every stream becomes an
/// HTTP/1.1 exchange with the backend, bodies of known and unknown length intact, large
/// responses whole, repeated cookies joined as one header. Runs on both forwarders.
/// </summary>
public sealed class Http2ClientForwardingTests(RedisFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_bodies_of_known_and_unknown_length_and_large_responses_cross_from_http2_to_http11_intact()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" });
        // Echoes what it was sent: protocol, framing, a digest of the body; or a large body on /big.
        await using var backend = await TestBackend.StartAsync("echo", async context =>
        {
            var request = context.Request;
            if (request.Path == "/big")
            {
                var big = new byte[1 << 20];
                new Random(7).NextBytes(big);
                await context.Response.Body.WriteAsync(big, context.RequestAborted);
                return;
            }

            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, context.RequestAborted);
            context.Response.Headers["x-seen-protocol"] = request.Protocol;
            context.Response.Headers["x-seen-content-length"] = request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none";
            context.Response.Headers["x-seen-transfer-encoding"] = request.Headers.TransferEncoding.ToString();
            context.Response.Headers["x-seen-cookie"] = request.Headers.Cookie.ToString();
            context.Response.Headers["x-seen-te"] = request.Headers.TE.ToString();
            await context.Response.WriteAsync(Convert.ToHexString(SHA256.HashData(buffer.ToArray())) + " " + buffer.Length, context.RequestAborted);
        });
        await using var redis = await fixture.Redis.ConnectAsync();
        var host = $"h2b{Guid.NewGuid():N}.test";
        await router.RpushAsync(redis.GetDatabase(), host, "h2b", backend.Url);
        var port = router.Services.GetRequiredService<RouterListeners>().RoutedPorts[1];
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var payload = RandomNumberGenerator.GetBytes(300_000);
        var digest = Convert.ToHexString(SHA256.HashData(payload)) + " " + payload.Length;

        // Known length: sent with its content-length.
        using (var request = Request(HttpMethod.Post, port, host, "/known"))
        {
            request.Content = new ByteArrayContent(payload);
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(digest, await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("HTTP/1.1", Seen(response, "protocol"));
            Assert.Equal("300000", Seen(response, "content-length"));
        }

        // Unknown length (no content-length on the stream): chunked to the backend.
        using (var request = Request(HttpMethod.Put, port, host, "/streamed"))
        {
            request.Content = new StreamContent(new UnknownLengthStream(payload));
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(digest, await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("none", Seen(response, "content-length"));
            Assert.Equal("chunked", Seen(response, "transfer-encoding"));
        }

        // No body, repeated cookies joined as HTTP/1.1 wants them.
        using (var request = Request(HttpMethod.Get, port, host, "/nobody"))
        {
            request.Headers.Add("Cookie", "a=1");
            request.Headers.Add("Cookie", "b=2");
            request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 0", await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal("none", Seen(response, "content-length"));
            Assert.Equal(string.Empty, Seen(response, "transfer-encoding"));
            Assert.Equal("a=1; b=2", Seen(response, "cookie"));
            // TE is hop-by-hop: the native path drops it (it drops a backend's trailers too); YARP keeps
            // "TE: trailers", as it does for gRPC.
            Assert.Equal(TestForwarder.Configured == "Yarp" ? "trailers" : string.Empty, Seen(response, "te"));
        }

        // A 1 MiB response, whole and in order.
        using (var request = Request(HttpMethod.Get, port, host, "/big"))
        {
            using var response = await client.SendAsync(request, Ct);
            var expected = new byte[1 << 20];
            new Random(7).NextBytes(expected);
            Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(Ct));
        }

        // Many streams at once on one connection, each its own exchange.
        var answers = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            using var request = Request(HttpMethod.Post, port, host, $"/many/{i}");
            request.Content = new ByteArrayContent(payload[..(1000 + i)]);
            using var response = await client.SendAsync(request, Ct);
            return (i, await response.Content.ReadAsStringAsync(Ct));
        }));
        Assert.All(answers, a => Assert.Equal(Convert.ToHexString(SHA256.HashData(payload[..(1000 + a.i)])) + " " + (1000 + a.i), a.Item2));
    }

    private static HttpRequestMessage Request(HttpMethod method, int port, string host, string path)
    {
        var request = new HttpRequestMessage(method, new Uri($"http://127.0.0.1:{port}{path}")) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.Host = host;
        return request;
    }

    private static string Seen(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues("x-seen-" + name, out var values) ? string.Join(",", values) : string.Empty;

    /// <summary>A body whose length HttpClient cannot know, so that the HTTP/2 request carries no content-length.</summary>
    private sealed class UnknownLengthStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, 7000), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
