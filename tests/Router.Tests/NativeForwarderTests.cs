using System.Net;
using System.Text;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// What the native HTTP/1.1 path does that YARP's did for it: response framing checked strictly
/// (a violation is a 502 and the connection is never reused), keep-alive pooling, chunked bodies
/// both ways, bodiless responses, interim responses and the keep-alive race. Always on the
/// native path, whatever HIPACHE_TEST_FORWARDER says.
/// </summary>
public sealed class NativeForwarderTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    /// <summary>
    /// A client that keeps its connection to the router: the next request is then read by Kestrel
    /// only once the previous one's handler has returned its backend connection to the pool. On a
    /// new client connection it can arrive a moment before that (the client has the whole
    /// response while the handler is still finishing) and rightly open a second backend connection.
    /// </summary>
    private static HttpClient KeepAliveClient(RunningRouter router) =>
        new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, MaxConnectionsPerServer = 1 })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{router.Port}"),
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>One request on <paramref name="client"/> (kept alive): its status and body.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient client, string host, HttpMethod? method = null, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, "/") { Content = content };
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private Task<RunningRouter> RouterAsync(params (string Key, string Value)[] settings) =>
        StartRouterAsync(new Dictionary<string, string?> { ["Router:Forwarder"] = "Native", ["Router:RetryOnError"] = "0" }, settings);

    private async Task<(RunningRouter Router, RawBackend Backend)> RawAsync(string host, Func<RawRequest, RawReply> reply, params (string Key, string Value)[] settings)
    {
        var router = await RouterAsync(settings);
        var backend = RawBackend.Start(reply);
        await router.RpushAsync(Db, host, host, backend.Url);
        return (router, backend);
    }

    [Theory]
    [InlineData("Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("two different Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")]
    [InlineData("a Content-Length list that disagrees", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!")]
    [InlineData("a malformed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello")]
    [InlineData("a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")]
    [InlineData("a transfer coding other than chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")]
    [InlineData("obs-fold", "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData("a bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok")]
    [InlineData("a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok")]
    [InlineData("a control character in a value", "HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData("an HTTP/2.0 status line", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData("a two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData("an unasked-for 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")]
    public async Task A_framing_violation_in_the_response_is_502_and_the_connection_is_not_reused(string what, string broken)
    {
        var (router, backend) = await RawAsync("framing.test", request => request.Number == 1 ? RawReply.Text(broken) : RawReply.Ok("fine"));
        await using (backend)
        {
            var (status, _) = await router.GetTextAsync("framing.test");
            Assert.True(status == 502, $"{what}: {status}");

            // The next request must not be read from the rest of the broken one: a new connection.
            Assert.Equal((200, "fine"), await router.GetTextAsync("framing.test"));
            Assert.Equal(2, backend.Connections);
            Assert.Empty(await Db.SetMembersAsync(router.Prefix + "dead:framing.test"));
        }
    }

    [Fact]
    public async Task A_chunk_longer_than_its_size_after_the_response_started_aborts_the_client_and_drops_the_connection()
    {
        // The first chunk is already on its way to the client: no 502 can follow (Q21), only a cut.
        var (router, backend) = await RawAsync("longchunk.test", request => request.Number == 1
            ? RawReply.Text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n")
            : RawReply.Ok("fine"));
        await using (backend)
        {
            // The reset may overtake the head in the client's socket, so the failure shows in either step.
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/") { Headers = { Host = "longchunk.test" } };
                using var response = await router.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
                await response.Content.ReadAsStringAsync(Ct);
            });
            Assert.Equal((200, "fine"), await router.GetTextAsync("longchunk.test"));
            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task Keep_alive_connections_are_reused_for_sequential_requests()
    {
        var router = await RouterAsync();
        var connections = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
        var backend = await StartBackendAsync("pooled", context =>
        {
            connections.TryAdd(context.Connection.Id, 0);
            return context.Response.WriteAsync("backend=pooled");
        });
        await router.RpushAsync(Db, "pooled.test", "pooled", backend.Url);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "backend=pooled"), await router.GetTextAsync("pooled.test"));
        }

        Assert.Single(connections);
    }

    [Fact]
    public async Task HttpKeepAlive_false_opens_a_connection_per_request_and_asks_the_backend_to_close()
    {
        var (router, backend) = await RawAsync("nokeepalive.test", _ => RawReply.Ok(), ("Router:HttpKeepAlive", "false"));
        await using (backend)
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal((200, "ok"), await router.GetTextAsync("nokeepalive.test"));
            }

            Assert.Equal(3, backend.Connections);
            Assert.All(backend.Requests, r => Assert.Contains("\r\nConnection: close\r\n", r.Head, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Chunked_bodies_pass_both_ways_with_extensions_and_trailers_dropped()
    {
        var (router, backend) = await RawAsync("chunked.test", request => RawReply.Text(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "5;ext=1\r\nhello\r\n1\r\n \r\n" + $"{request.Body.Length:x}\r\n{request.Body}\r\n" + "0\r\nX-Trailer: dropped\r\n\r\n"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            for (var i = 0; i < 2; i++)
            {
                using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes("payload-" + i))) };
                post.Headers.Host = "chunked.test";
                post.Headers.TransferEncodingChunked = true;
                using var response = await client.SendAsync(post, Ct);
                var text = await response.Content.ReadAsStringAsync(Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                // The raw backend echoes the chunked body as it arrived: re-chunked by the router.
                Assert.StartsWith("hello ", text, StringComparison.Ordinal);
                Assert.EndsWith($"payload-{i}\r\n0\r\n\r\n", text, StringComparison.Ordinal);
                Assert.False(response.TrailingHeaders.Contains("X-Trailer"));
            }

            Assert.All(backend.Requests, r =>
            {
                Assert.Contains("\r\nTransfer-Encoding: chunked\r\n", r.Head, StringComparison.Ordinal);
                Assert.DoesNotContain("Content-Length", r.Head, StringComparison.OrdinalIgnoreCase);
            });
            // Both framed ends were found exactly: one connection for both exchanges.
            Assert.Equal(1, backend.Connections);
        }
    }

    [Fact]
    public async Task HEAD_204_and_304_have_no_body_whatever_their_headers_say_and_keep_the_connection()
    {
        var (router, backend) = await RawAsync("nobody.test", request => request.Head.Split(' ')[1] switch
        {
            "/head" => RawReply.Text("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
            "/204" => RawReply.Text("HTTP/1.1 204 No Content\r\n\r\n"),
            "/304" => RawReply.Text("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 100\r\n\r\n"),
            _ => RawReply.Ok("after"),
        });
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            using (var head = new HttpRequestMessage(HttpMethod.Head, "/head") { Headers = { Host = "nobody.test" } })
            using (var response = await client.SendAsync(head, Ct))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(100, response.Content.Headers.ContentLength);
            }

            using (var noContent = new HttpRequestMessage(HttpMethod.Get, "/204") { Headers = { Host = "nobody.test" } })
            using (var response = await client.SendAsync(noContent, Ct))
            {
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }

            using (var notModified = new HttpRequestMessage(HttpMethod.Get, "/304") { Headers = { Host = "nobody.test" } })
            using (var response = await client.SendAsync(notModified, Ct))
            {
                Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
                Assert.Equal("\"x\"", response.Headers.ETag?.Tag);
            }

            using (var after = new HttpRequestMessage(HttpMethod.Get, "/after") { Headers = { Host = "nobody.test" } })
            using (var response = await client.SendAsync(after, Ct))
            {
                Assert.Equal("after", await response.Content.ReadAsStringAsync(Ct));
            }

            Assert.Equal(1, backend.Connections);
        }
    }

    [Theory]
    [InlineData("a 204 with a Content-Length and a body", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 204)]
    [InlineData("a 204 that is chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 204)]
    [InlineData("a 304 that is chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 304)]
    [InlineData("a 304 with a body after its Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello", 304)]
    public async Task A_bodiless_status_that_sends_a_body_is_relayed_without_it_and_its_connection_dropped(string what, string response, int status)
    {
        // RFC 9112 6.3: the message ends at the head; the bytes after it are not a response and
        // must never be read as the answer to the next request.
        var (router, backend) = await RawAsync("bodiless.test", request => request.Number == 1 ? RawReply.Text(response) : RawReply.Ok("next"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            var (firstStatus, firstBody) = await SendAsync(client, "bodiless.test");
            Assert.True((int)firstStatus == status, $"{what}: {firstStatus}");
            Assert.Empty(firstBody);
            Assert.Equal("next", (await SendAsync(client, "bodiless.test")).Body);

            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task A_response_longer_than_its_Content_Length_is_relayed_to_its_length_and_its_connection_dropped()
    {
        var (router, backend) = await RawAsync("longer.test", request => request.Number == 1 ? RawReply.Text("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged") : RawReply.Ok("next"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            Assert.Equal("ok", (await SendAsync(client, "longer.test")).Body);
            Assert.Equal("next", (await SendAsync(client, "longer.test")).Body);

            Assert.Equal(2, backend.Connections);
        }
    }

    [Theory]
    [InlineData("HTTP/1.1 205 Reset Content\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("HTTP/1.1 205 Reset Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")]
    public async Task A_205_with_a_body_is_relayed_without_it_and_the_connection_stays_in_step(string response)
    {
        // RFC 9110 15.3.6: a 205 has no content. Framed as usual, the body is read and dropped.
        var (router, backend) = await RawAsync("reset.test", request => request.Number == 1 ? RawReply.Text(response) : RawReply.Ok("next"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            using var form = new StringContent("form");
            var (status, body) = await SendAsync(client, "reset.test", HttpMethod.Post, form);
            Assert.Equal(HttpStatusCode.ResetContent, status);
            Assert.Empty(body);
            Assert.Equal("next", (await SendAsync(client, "reset.test")).Body);

            Assert.Equal(1, backend.Connections);
        }
    }

    [Theory]
    [InlineData("HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData("HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    public async Task An_interim_response_that_announces_a_body_is_502_and_the_connection_dropped(string response)
    {
        var (router, backend) = await RawAsync("interim.test", request => request.Number == 1 ? RawReply.Text(response) : RawReply.Ok("fine"));
        await using (backend)
        {
            Assert.Equal(502, (await router.GetTextAsync("interim.test")).Status);
            Assert.Equal((200, "fine"), await router.GetTextAsync("interim.test"));
            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task Bytes_a_backend_sends_on_an_idle_connection_are_never_the_answer_to_the_next_request()
    {
        // A response on a connection with no request: the backend answers, then, unasked, sends a
        // second response on the idle pooled connection. The next client must get the backend's
        // real answer to its own request, on a new connection.
        var (router, backend) = await RawAsync("unasked.test", request => request.Number == 1
            ? RawReply.Ok("first") with { Later = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"u8.ToArray(), LaterDelay = TimeSpan.FromMilliseconds(100) }
            : RawReply.Ok($"answer {request.Number}"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            Assert.Equal("first", (await SendAsync(client, "unasked.test")).Body);

            // Once the backend's write has returned, loopback TCP has put the bytes in the
            // router's receive queue: no further wait is needed.
            await Poll.UntilAsync(() => Task.FromResult(backend.UnaskedSent), sent => sent, TimeSpan.FromSeconds(5), "the unasked response to be sent");
            Assert.Equal("answer 2", (await SendAsync(client, "unasked.test")).Body);

            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task A_100_continue_from_the_backend_is_skipped_and_the_final_response_relayed()
    {
        var (router, backend) = await RawAsync("continue.test", request => RawReply.Text(
            $"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: {request.Body.Length}\r\n\r\n{request.Body}"));
        await using (backend)
        {
            using var client = KeepAliveClient(router);
            using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("body!") };
            post.Headers.Host = "continue.test";
            post.Headers.ExpectContinue = true;
            using var response = await client.SendAsync(post, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal("body!", await response.Content.ReadAsStringAsync(Ct));
            // The interim heads were consumed exactly: the kept-alive connection is in step for the next one.
            using var get = new HttpRequestMessage(HttpMethod.Get, "/");
            get.Headers.Host = "continue.test";
            using var next = await client.SendAsync(get, Ct);
            Assert.Equal(HttpStatusCode.Created, next.StatusCode);
            Assert.Equal(string.Empty, await next.Content.ReadAsStringAsync(Ct));
            Assert.Equal(1, backend.Connections);
        }
    }

    [Fact]
    public async Task A_pooled_connection_closed_by_the_backend_is_retried_on_a_new_one_when_nothing_of_the_request_was_read()
    {
        // The first request that arrives on a reused connection meets the classic race: the
        // backend closes the kept-alive connection as it arrives, without answering. Nothing of a
        // GET can be lost: it goes again, on a new connection. (Which request reuses a connection
        // is not fixed: a client may send its next request before the router has put the
        // connection back in the pool, and that one opens a new connection; a CI run saw it.)
        var perConnection = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var hungUp = 0;
        var (router, backend) = await RawAsync("stale.test", request =>
            perConnection.AddOrUpdate(request.Connection, 1, (_, n) => n + 1) > 1 && Interlocked.CompareExchange(ref hungUp, 1, 0) == 0
                ? RawReply.Hangup
                : RawReply.Ok($"answer {request.Number}"));
        await using (backend)
        {
            for (var i = 0; i < 20 && Volatile.Read(ref hungUp) == 0; i++)
            {
                var connectionsBefore = backend.Connections;
                var (status, body) = await router.GetTextAsync("stale.test");
                Assert.Equal(200, status);
                Assert.StartsWith("answer ", body, StringComparison.Ordinal);
                if (Volatile.Read(ref hungUp) == 1)
                {
                    // The hung-up request was answered from a connection opened for it.
                    Assert.Equal(connectionsBefore + 1, backend.Connections);
                }
            }

            Assert.Equal(1, Volatile.Read(ref hungUp));
            Assert.Empty(await Db.SetMembersAsync(router.Prefix + "dead:stale.test"));
        }
    }

    [Fact]
    public async Task A_pooled_connection_that_fails_after_the_body_was_sent_is_502_and_the_body_never_sent_twice()
    {
        var (router, backend) = await RawAsync("stale-post.test", request => request.Number == 2 ? RawReply.Hangup : RawReply.Ok($"answer {request.Number}"));
        await using (backend)
        {
            Assert.Equal((200, "answer 1"), await router.GetTextAsync("stale-post.test"));
            using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("once only") };
            post.Headers.Host = "stale-post.test";
            using var response = await router.Client.SendAsync(post, Ct);
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Single(backend.Requests, r => r.Body == "once only");
        }
    }

    [Fact]
    public async Task A_GET_whose_new_connection_closes_without_an_answer_goes_again_once_on_a_new_connection()
    {
        // A backend shutting down gracefully closes a connection it accepted but did not serve.
        var (router, backend) = await RawAsync("shutting.test", request => request.Number == 1 ? RawReply.Hangup : RawReply.Ok($"answer {request.Number}"));
        await using (backend)
        {
            Assert.Equal((200, "answer 2"), await router.GetTextAsync("shutting.test"));
            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task A_fresh_connection_closed_without_a_response_is_502_after_one_second_try_and_a_POST_is_never_sent_twice()
    {
        var (router, backend) = await RawAsync("hangup.test", _ => RawReply.Hangup);
        await using (backend)
        {
            // A safe request goes again once, never a third time.
            Assert.Equal(502, (await router.GetTextAsync("hangup.test")).Status);
            Assert.Equal(2, backend.Connections);

            // A request with a body, or an unsafe method, is never sent twice.
            using var post = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("once only") };
            post.Headers.Host = "hangup.test";
            using var response = await router.Client.SendAsync(post, Ct);
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal(3, backend.Connections);
            using var delete = new HttpRequestMessage(HttpMethod.Delete, "/");
            delete.Headers.Host = "hangup.test";
            using var deleted = await router.Client.SendAsync(delete, Ct);
            Assert.Equal(HttpStatusCode.BadGateway, deleted.StatusCode);
            Assert.Equal(4, backend.Connections);
        }
    }

    [Fact]
    public async Task A_body_read_until_close_is_relayed_whole_and_the_connection_dropped()
    {
        var big = new string('b', 300_000);
        var (router, backend) = await RawAsync("toclose.test", request => request.Number == 1 ? RawReply.Text("HTTP/1.1 200 OK\r\n\r\n" + big, close: true) : RawReply.Ok("next"));
        await using (backend)
        {
            Assert.Equal((200, big), await router.GetTextAsync("toclose.test"));
            Assert.Equal((200, "next"), await router.GetTextAsync("toclose.test"));
            Assert.Equal(2, backend.Connections);
        }
    }

    [Fact]
    public async Task A_megabyte_response_arrives_whole_on_a_kept_alive_connection()
    {
        var router = await RouterAsync();
        var payload = new byte[1024 * 1024];
        new Random(7).NextBytes(payload);
        var backend = await StartBackendAsync("big", context => context.Response.Body.WriteAsync(payload, context.RequestAborted).AsTask());
        await router.RpushAsync(Db, "big.test", "big", backend.Url);
        for (var i = 0; i < 3; i++)
        {
            using var response = await router.GetAsync("big.test");
            Assert.Equal(payload, await response.Content.ReadAsByteArrayAsync(Ct));
        }
    }
}
