using System.Net;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Http;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// RFC 9110/9112 rules for an intermediary that Kestrel leaves to the router, both directions, as
/// raw bytes: request framing and targets, hop-by-hop headers, httpoxy, and what a backend may
/// not do with its own status codes or with an idle connection. Runs on whichever forwarder
/// HIPACHE_TEST_FORWARDER selects (CI runs both).
/// </summary>
public sealed class ProtocolStrictnessTests(RedisFixture fixture) : RouterScenarioTests(fixture)
{
    private int _backendRequests;

    private Task<RunningRouter> RouterAsync(params (string Key, string Value)[] settings) =>
        StartRouterAsync(new Dictionary<string, string?> { ["Router:RetryOnError"] = "0" }, settings);

    private async Task<RunningRouter> RoutedAsync(string host, params (string Key, string Value)[] settings)
    {
        var router = await RouterAsync(settings);
        var backend = await StartBackendAsync(host, async context =>
        {
            Interlocked.Increment(ref _backendRequests);
            foreach (var header in context.Request.Headers)
            {
                context.Response.Headers["x-seen-" + header.Key.ToLowerInvariant()] = header.Value;
            }

            context.Response.Headers["x-seen-raw-target"] = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
            using var reader = new StreamReader(context.Request.Body);
            var text = "body=" + await reader.ReadToEndAsync(context.RequestAborted);
            // A length, so that an HTTP/1.0 client's connection can stay open when the router allows it.
            context.Response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(text);
            await context.Response.WriteAsync(text);
        });
        await router.RpushAsync(Db, host, host, backend.Url);
        return router;
    }

    [Theory]
    [InlineData("-6")]
    [InlineData("0x6")]
    [InlineData("6,6")]
    [InlineData("6, 6")]
    [InlineData("6 6")]
    [InlineData("6e0")]
    public async Task A_Content_Length_that_is_not_only_digits_is_400_and_the_connection_closed(string value)
    {
        var router = await RoutedAsync("length.test");
        var answer = await router.RawAsync($"POST / HTTP/1.1\r\nHost: length.test\r\nContent-Length: {value}\r\n\r\nabcdef");
        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), $"Content-Length: {value}: {answer}");
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
    }

    [Fact]
    public async Task A_Content_Length_with_a_plus_sign_is_framed_by_its_digits_and_reaches_the_backend_as_digits_only()
    {
        // Kestrel reads "+6" as 6 (its parser takes a sign) and gives the application only the
        // number, so the router cannot refuse it; what it guarantees is that it and the backend
        // frame the message the same way: exactly six bytes, and a Content-Length of digits.
        var router = await RoutedAsync("plus.test");
        var answer = await router.RawAsync("POST / HTTP/1.1\r\nHost: plus.test\r\nContent-Length: +6\r\nConnection: close\r\n\r\nabcdef");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("x-seen-content-length: 6\r\n", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("body=abcdef", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Content_Length_with_leading_zeros_is_digits_and_is_forwarded()
    {
        var router = await RoutedAsync("zeros.test");
        var answer = await router.RawAsync("POST / HTTP/1.1\r\nHost: zeros.test\r\nContent-Length: 006\r\nConnection: close\r\n\r\nabcdef");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("body=abcdef", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hash_in_the_request_target_is_400_in_Safe_mode_and_forwarded_escaped_in_Hipache_mode()
    {
        var safe = await RoutedAsync("fragment.test");
        var refused = await safe.RawAsync("GET /page#top HTTP/1.1\r\nHost: fragment.test\r\n\r\n");
        Assert.True(refused.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), refused);
        Assert.Contains("Connection: close", refused, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));

        // Hipache forwarded any target (C14); '#' goes as %23, as an HTTP client can send it.
        var hipache = await RoutedAsync("fragment-h.test", ("Router:Compatibility", "Hipache"));
        var forwarded = await hipache.RawAsync("GET /pipo&%$#(PIPO HTTP/1.1\r\nHost: fragment-h.test\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", forwarded, StringComparison.Ordinal);
        Assert.True(forwarded.Contains("x-seen-raw-target: /pipo&%$%23(PIPO", StringComparison.OrdinalIgnoreCase), forwarded);
    }

    [Theory]
    [InlineData("X-Secret")]
    [InlineData("X-Secret, X-Other")]
    [InlineData("Keep-Alive,X-Secret,Upgrade")]
    [InlineData("TE, X-Secret")]
    public async Task Headers_named_in_Connection_never_reach_the_backend(string connection)
    {
        var router = await RoutedAsync("connection.test");
        var answer = await router.RawAsync($"GET / HTTP/1.1\r\nHost: connection.test\r\nConnection: {connection}\r\nX-Secret: hop\r\nX-Kept: end\r\n\r\n", until: "body=");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("x-seen-x-kept: end", answer, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("x-seen-x-secret", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_Proxy_header_is_dropped_unless_ForwardProxyHeader_is_on()
    {
        const string request = "GET / HTTP/1.1\r\nHost: {0}\r\nProxy: http://attacker.example:3128\r\nConnection: close\r\n\r\n";
        var dropping = await RoutedAsync("httpoxy.test");
        var dropped = await dropping.RawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, "httpoxy.test"));
        Assert.StartsWith("HTTP/1.1 200", dropped, StringComparison.Ordinal);
        Assert.DoesNotContain("x-seen-proxy:", dropped, StringComparison.OrdinalIgnoreCase);

        var keeping = await RoutedAsync("httpoxy-kept.test", ("Router:ForwardProxyHeader", "true"));
        var kept = await keeping.RawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, "httpoxy-kept.test"));
        Assert.Contains("x-seen-proxy: http://attacker.example:3128", kept, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("OPTIONS")]
    [InlineData("TRACE")]
    public async Task A_TRACE_or_OPTIONS_with_Max_Forwards_0_is_answered_by_the_router(string method)
    {
        var router = await RoutedAsync("maxfwd.test");
        var answer = await router.RawAsync($"{method} /x HTTP/1.1\r\nHost: maxfwd.test\r\nMax-Forwards: 0\r\nCookie: secret=1\r\nX-Probe: seen\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _backendRequests));
        if (method == "OPTIONS")
        {
            Assert.Contains("Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE", answer, StringComparison.Ordinal);
        }
        else
        {
            // The request as received, without the fields that carry credentials.
            Assert.Contains("Content-Type: message/http", answer, StringComparison.Ordinal);
            Assert.Contains("TRACE /x HTTP/1.1\r\n", answer, StringComparison.Ordinal);
            Assert.Contains("X-Probe: seen", answer, StringComparison.Ordinal);
            Assert.DoesNotContain("secret=1", answer, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("OPTIONS", "3", "2")]
    [InlineData("TRACE", "1", "0")]
    [InlineData("GET", "0", "0")]
    [InlineData("OPTIONS", "x", "x")]
    public async Task Max_Forwards_is_decremented_on_TRACE_and_OPTIONS_and_left_alone_otherwise(string method, string sent, string forwarded)
    {
        var router = await RoutedAsync("maxfwd2.test");
        var answer = await router.RawAsync($"{method} / HTTP/1.1\r\nHost: maxfwd2.test\r\nMax-Forwards: {sent}\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains($"x-seen-max-forwards: {forwarded}\r\n", answer, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Via_is_added_only_when_Router_Via_names_the_router_and_appends_to_the_clients()
    {
        var plain = await RoutedAsync("via.test");
        var none = await plain.RawAsync("GET / HTTP/1.1\r\nHost: via.test\r\nConnection: close\r\n\r\n");
        Assert.DoesNotContain("x-seen-via", none, StringComparison.OrdinalIgnoreCase);

        var named = await RoutedAsync("via-named.test", ("Router:Via", "edge"));
        var added = await named.RawAsync("GET / HTTP/1.1\r\nHost: via-named.test\r\nConnection: close\r\n\r\n");
        Assert.Contains("x-seen-via: 1.1 edge\r\n", added, StringComparison.OrdinalIgnoreCase);
        var appended = await named.RawAsync("GET / HTTP/1.1\r\nHost: via-named.test\r\nVia: 1.0 front\r\nConnection: close\r\n\r\n");
        Assert.Contains("x-seen-via: 1.0 front, 1.1 edge\r\n", appended, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_HTTP_1_0_client_connection_is_never_kept_alive_in_Safe_mode_and_is_in_Hipache_mode()
    {
        const string request = "GET / HTTP/1.0\r\nHost: {0}\r\nConnection: keep-alive\r\n\r\n";
        var safe = await RoutedAsync("http10.test");
        // RawAsync reads until the router closes: it returns only because the connection ends.
        var closed = await safe.RawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, "http10.test"));
        Assert.StartsWith("HTTP/1.1 200", closed, StringComparison.Ordinal);
        Assert.Contains("Connection: close", closed, StringComparison.OrdinalIgnoreCase);

        var hipache = await RoutedAsync("http10-h.test", ("Router:Compatibility", "Hipache"));
        var kept = await hipache.RawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, "http10-h.test"), until: "body=");
        Assert.Contains("Connection: keep-alive", kept, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_error_page_to_an_HTTP_1_0_client_closes_the_connection_too()
    {
        var router = await RouterAsync();
        var answer = await router.RawAsync("GET / HTTP/1.0\r\nHost: nowhere.test\r\nConnection: keep-alive\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
    }
}
