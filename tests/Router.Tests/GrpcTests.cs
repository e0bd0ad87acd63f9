using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Hipache.Aspire.Router.Listeners;
using Hipache.Aspire.Router.Tests.GrpcEcho;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// gRPC through the router: a Grpc.Net.Client channel to the router's h2c listener
/// (Router:H2cUrls), the frontend's backend an HTTP/2-only Grpc.AspNetCore server registered as
/// <c>h2c://</c>; and the router's own answers to a gRPC call, given the gRPC way.
/// </summary>
public sealed class GrpcTests(RedisFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> H2cListener(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?> { ["Router:H2cUrls:0"] = "http://127.0.0.1:0" };
        foreach (var pair in more ?? [])
        {
            settings[pair.Key] = pair.Value;
        }

        return settings;
    }

    [Fact]
    public async Task Unary_and_the_three_streaming_call_types_pass_through_over_http2_with_the_usual_headers_and_trailers()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener());
        await using var backend = await GrpcBackend.StartAsync();
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "grpc.test", "grpc", backend.H2cUrl);
        using var channel = Channel(H2cPort(router), "grpc.test");
        var client = new Echo.EchoClient(channel);

        using (var unary = client.UnaryAsync(new EchoRequest { Text = "one" }, cancellationToken: Ct))
        {
            var reply = await unary.ResponseAsync;
            Assert.Equal("one", reply.Text);
            // The backend speaks HTTP/2 only: the router reached it with h2c, with its forwarding headers.
            Assert.Equal("HTTP/2", reply.Protocol);
            Assert.Equal("http", reply.ForwardedProto);
            Assert.Equal(StatusCode.OK, unary.GetStatus().StatusCode);
            Assert.Equal("unary-one", unary.GetTrailers().GetValue("x-echo-trailer"));
        }

        using (var server = client.ServerStream(new EchoRequest { Text = "s", Count = 5 }, cancellationToken: Ct))
        {
            var indexes = new List<int>();
            await foreach (var reply in server.ResponseStream.ReadAllAsync(Ct))
            {
                indexes.Add(reply.Index);
            }

            Assert.Equal([0, 1, 2, 3, 4], indexes);
            Assert.Equal(StatusCode.OK, server.GetStatus().StatusCode);
        }

        using (var upload = client.ClientStream(cancellationToken: Ct))
        {
            foreach (var text in new[] { "a", "b", "c" })
            {
                await upload.RequestStream.WriteAsync(new EchoRequest { Text = text }, Ct);
            }

            await upload.RequestStream.CompleteAsync();
            Assert.Equal("a,b,c", (await upload.ResponseAsync).Text);
        }

        using (var duplex = client.Duplex(cancellationToken: Ct))
        {
            // One message at a time, each answer read before the next is sent: the router must
            // relay each frame as it comes, not buffer the request or the response.
            for (var i = 0; i < 3; i++)
            {
                await duplex.RequestStream.WriteAsync(new EchoRequest { Text = $"m{i}" }, Ct);
                Assert.True(await duplex.ResponseStream.MoveNext(Ct));
                Assert.Equal($"echo:m{i}", duplex.ResponseStream.Current.Text);
                Assert.Equal(i, duplex.ResponseStream.Current.Index);
            }

            await duplex.RequestStream.CompleteAsync();
            Assert.False(await duplex.ResponseStream.MoveNext(Ct));
            Assert.Equal(StatusCode.OK, duplex.GetStatus().StatusCode);
        }
    }

    [Fact]
    public async Task The_clients_deadline_reaches_the_backend_as_grpc_timeout_and_a_slow_call_ends_deadline_exceeded()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener());
        await using var backend = await GrpcBackend.StartAsync();
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "deadline.grpc.test", "grpc", backend.H2cUrl);
        using var channel = Channel(H2cPort(router), "deadline.grpc.test");
        var client = new Echo.EchoClient(channel);

        var deadline = DateTime.UtcNow.AddMilliseconds(800);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.SlowAsync(new EchoRequest { Text = "slow", DelayMs = 30_000 }, deadline: deadline, cancellationToken: Ct));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);

        // The backend knew the deadline (from grpc-timeout; without it, DateTime.MaxValue) and its
        // work was cancelled, not left running for 30 s.
        var seen = await backend.State.SlowDeadline.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.NotEqual(DateTime.MaxValue, seen);
        Assert.InRange(seen, deadline.AddSeconds(-5), deadline.AddSeconds(1));
        await backend.State.SlowCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task A_status_and_trailers_set_by_the_service_reach_the_client()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener());
        await using var backend = await GrpcBackend.StartAsync();
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "status.grpc.test", "grpc", backend.H2cUrl);
        using var channel = Channel(H2cPort(router), "status.grpc.test");
        var client = new Echo.EchoClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.FailAsync(new EchoRequest { Text = "x" }, cancellationToken: Ct));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("no echo for x", error.Status.Detail);
        Assert.Equal("failed", error.Trailers.GetValue("x-echo-trailer"));

        // A backend status is the backend's business: the backend is not marked dead for it.
        Assert.Equal("x", (await client.UnaryAsync(new EchoRequest { Text = "x" }, cancellationToken: Ct)).Text);
        Assert.False(await redis.GetDatabase().KeyExistsAsync(router.Prefix + "dead:status.grpc.test"));
    }

    [Fact]
    public async Task A_closed_backend_port_is_unavailable_the_grpc_way_and_the_access_log_keeps_the_502()
    {
        var log = Path.Combine(Path.GetTempPath(), $"grpc-access-{Guid.NewGuid():N}.log");
        try
        {
            await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener(new() { ["Router:AccessLog"] = log }));
            await using var redis = await fixture.Redis.ConnectAsync();
            await router.RpushAsync(redis.GetDatabase(), "down.grpc.test", "grpc", $"h2c://127.0.0.1:{ClosedPort()}");
            using var channel = Channel(H2cPort(router), "down.grpc.test");

            var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Text = "x" }, cancellationToken: Ct));
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.Equal("Reached max retries limit", error.Status.Detail);

            // On the wire: 200, application/grpc, the status in the only header block, no HTML page.
            var (status, headers, body) = await RawGrpcAsync(H2cPort(router), "down.grpc.test");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("application/grpc", headers["content-type"]);
            Assert.Equal("14", headers["grpc-status"]);
            Assert.Equal("Reached max retries limit", headers["grpc-message"]);
            Assert.Empty(body);

            // The access log records the router's decision, not the 200 that carried it.
            var line = await Poll.UntilAsync(async () => File.Exists(log) ? await File.ReadAllTextAsync(log, Ct) : string.Empty,
                text => text.Contains("/hipache.test.Echo/Unary HTTP/2\" 502 ", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the access log line");
            Assert.DoesNotContain("/hipache.test.Echo/Unary HTTP/2\" 200 ", line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public async Task An_unknown_host_is_unimplemented_with_the_routers_message()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener());
        using var channel = Channel(H2cPort(router), "nobody.grpc.test");

        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest { Text = "x" }, cancellationToken: Ct));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        Assert.Equal("frontend not found", error.Status.Detail);

        // A plain HTTP/2 client still gets Hipache's page for the same host.
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{H2cPort(router)}/") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.Host = "nobody.grpc.test";
        using var page = await client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
        Assert.Contains("No Application Configured", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_backend_silent_past_the_routers_timeout_is_deadline_exceeded()
    {
        await using var router = await RunningRouter.StartAsync(fixture.Redis, H2cListener(new() { ["Router:TcpTimeout"] = "00:00:01" }));
        await using var backend = await GrpcBackend.StartAsync();
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "silent.grpc.test", "grpc", backend.H2cUrl);
        using var channel = Channel(H2cPort(router), "silent.grpc.test");

        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.EchoClient(channel).SlowAsync(new EchoRequest { Text = "x", DelayMs = 30_000 }, cancellationToken: Ct));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.Equal("Backend timed out", error.Status.Detail);
    }

    [Fact]
    public async Task An_http1_client_reaches_an_h2c_backend_over_http2_whatever_the_forwarder()
    {
        // An HTTP/2-only Kestrel (what an h2c:// backend may be): HTTP/1.1 to it fails.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        app.Run(context => context.Response.WriteAsync($"protocol={context.Request.Protocol} xfp={context.Request.Headers["X-Forwarded-Proto"]}"));
        await app.StartAsync(Ct);
        var port = new Uri(app.Urls.First()).Port;

        await using var router = await RunningRouter.StartAsync(fixture.Redis);
        await using var redis = await fixture.Redis.ConnectAsync();
        await router.RpushAsync(redis.GetDatabase(), "h2only.test", "h2only", $"h2c://127.0.0.1:{port}");
        await router.RpushAsync(redis.GetDatabase(), "h1.test", "h1", $"http://127.0.0.1:{port}");

        Assert.Equal((200, "protocol=HTTP/2 xfp=http"), await router.GetTextAsync("h2only.test"));
        // The same server as http:// is spoken to in HTTP/1.1, as Hipache would: Kestrel refuses
        // an HTTP/1.x request on an HTTP/2-only endpoint (400), and the router relays that.
        var (status, body) = await router.GetTextAsync("h1.test");
        Assert.NotEqual(200, status);
        Assert.DoesNotContain("protocol=", body, StringComparison.Ordinal);
    }

    private static int H2cPort(RunningRouter router) => router.Services.GetRequiredService<RouterListeners>().RoutedPorts[1];

    /// <summary>A gRPC channel to the router whose requests carry <paramref name="host"/> as their authority (the frontend).</summary>
    private static GrpcChannel Channel(int port, string host) =>
        GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = new AuthorityHandler(host) { InnerHandler = new SocketsHttpHandler { UseProxy = false } },
            DisposeHttpClient = true,
        });

    /// <summary>A unary gRPC request as bytes on the wire (an empty message), for what the router answers in HTTP terms.</summary>
    private static async Task<(HttpStatusCode Status, Dictionary<string, string> Headers, byte[] Body)> RawGrpcAsync(int port, string host)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/hipache.test.Echo/Unary")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Headers.Host = host;
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var response = await client.SendAsync(request, Ct);
        var headers = response.Headers.Concat(response.Content.Headers).ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value));
        return (response.StatusCode, headers, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
