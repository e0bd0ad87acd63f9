using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// Hostile and broken requests on the routed listener, as raw bytes (in the style of Kestrel's
/// BadHttpRequestTests). The answer is a 4xx and the request never reaches a backend
/// ambiguously; nothing hangs.
/// </summary>
public sealed class HostileInputTests(RedisFixture fixture) : RouterTestBase(fixture)
{
    // 63 + 1 + 63 + 1 + 63 + 1 + 62 = 254: one more than DNS allows.
    private const string LongHost = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    // "a." 127 times then "a": 128 labels (DNS allows 127), 255 characters.
    private const string ManyLabels = "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a";

    private int _backendRequests;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        var backend = await BackendAsync("target", async context =>
        {
            Interlocked.Increment(ref _backendRequests);
            await context.Response.WriteAsync("reached");
        });
        await Router.RpushAsync(Db, "hostile.test", "hostile", backend.Url);
    }

    [Theory]
    [InlineData("conflicting Content-Length", "POST / HTTP/1.1\r\nHost: hostile.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde")]
    [InlineData("obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\nHost: hostile.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")]
    [InlineData("header folding", "GET / HTTP/1.1\r\nHost: hostile.test\r\nX-Folded: a\r\n b\r\n\r\n")]
    [InlineData("bare LF", "GET / HTTP/1.1\nHost: hostile.test\n\n")]
    [InlineData("space in Host", "GET / HTTP/1.1\r\nHost: hostile test\r\n\r\n")]
    [InlineData("@ in Host", "GET / HTTP/1.1\r\nHost: user@hostile.test\r\n\r\n")]
    [InlineData("two Host headers", "GET / HTTP/1.1\r\nHost: hostile.test\r\nHost: other.test\r\n\r\n")]
    [InlineData("/ in Host", "GET / HTTP/1.1\r\nHost: hostile.test/admin\r\n\r\n")]
    [InlineData("control character in Host", "GET / HTTP/1.1\r\nHost: hostile\u0001.test\r\n\r\n")]
    [InlineData("Host of 254 characters", "GET / HTTP/1.1\r\nHost: " + LongHost + "\r\nConnection: close\r\n\r\n")]
    [InlineData("Host of 128 labels", "GET / HTTP/1.1\r\nHost: " + ManyLabels + "\r\nConnection: close\r\n\r\n")]
    [InlineData("unclosed IPv6 bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n")]
    [InlineData("not an IPv6 literal in brackets", "GET / HTTP/1.1\r\nHost: [hostile.test]\r\n\r\n")]
    [InlineData("empty label", "GET / HTTP/1.1\r\nHost: hostile..test\r\nConnection: close\r\n\r\n")]
    [InlineData("no Host in HTTP/1.1 (RFC 9112 3.2)", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")]
    [InlineData("whitespace before the first header (RFC 9112 2.2)", "GET / HTTP/1.1\r\n Host: hostile.test\r\n\r\n")]
    [InlineData("whitespace before a colon (RFC 9112 5.1)", "GET / HTTP/1.1\r\nHost : hostile.test\r\n\r\n")]
    [InlineData("two spaces in the request line (RFC 9112 3)", "GET  / HTTP/1.1\r\nHost: hostile.test\r\n\r\n")]
    [InlineData("a final transfer coding other than chunked (RFC 9112 6.3)", "POST / HTTP/1.1\r\nHost: hostile.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n")]
    [InlineData("Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1)", "POST / HTTP/1.0\r\nHost: hostile.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]
    [InlineData("a bare CR in a header value (RFC 9112 2.2)", "GET / HTTP/1.1\r\nHost: hostile.test\r\nX-A: a\rb\r\n\r\n")]
    [InlineData("a NUL in the target", "GET /a\u0000b HTTP/1.1\r\nHost: hostile.test\r\n\r\n")]
    public async Task Smuggling_and_malformed_requests_get_400_and_reach_no_backend(string what, string request)
    {
        var answer = await Router.RawAsync(request);
        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"{what}: {answer}");
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task Content_length_with_transfer_encoding_is_read_as_chunked_and_the_connection_closed_so_nothing_is_smuggled()
    {
        // RFC 9112 6.1: Transfer-Encoding wins, Content-Length is dropped, and the connection is
        // closed after the response, so the bytes after the chunked body are never a request.
        var answer = await Router.RawAsync("POST / HTTP/1.1\r\nHost: hostile.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: hostile.test\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task An_invalid_chunk_size_is_the_clients_fault_400_not_a_backend_failure()
    {
        // Bodies are streamed: the backend may have seen the request start; its body is cut there.
        var answer = await Router.RawAsync("POST / HTTP/1.1\r\nHost: hostile.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), answer);
        Assert.Empty(await Db.SetMembersAsync(Router.Prefix + "dead:hostile.test"));
    }

    [Fact]
    public async Task An_oversized_request_line_gets_414_and_oversized_headers_431()
    {
        Assert.StartsWith("HTTP/1.1 414", await Router.RawAsync($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: hostile.test\r\n\r\n"), StringComparison.Ordinal);
        var headers = string.Concat(Enumerable.Range(0, 120).Select(i => $"X-H{i}: v\r\n"));
        Assert.StartsWith("HTTP/1.1 431", await Router.RawAsync($"GET / HTTP/1.1\r\nHost: hostile.test\r\n{headers}\r\n"), StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task A_well_formed_request_on_the_same_listener_still_works()
    {
        var answer = await Router.RawAsync("GET / HTTP/1.1\r\nHost: hostile.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("reached", answer, StringComparison.Ordinal);
    }
}
