using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Hipache.Aspire.Router.Configuration;
using Hipache.Aspire.Router.Routing;
using Hipache.Aspire.Router.Threading;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Hipache.Aspire.Router.Forwarding.Native;

/// <summary>
/// The router's own HTTP/1.1 upstream path for the common case (an HTTP/1.x request without
/// upgrade): one attempt on one backend over a pooled keep-alive connection, mapped onto YARP's
/// error kinds so that <see cref="ProxyHandler"/> applies the same retry, dead-mark, timeout and
/// error-page rules to both paths. The one retry it makes itself is the keep-alive race: a pooled
/// connection the backend closed while idle fails before any response byte; the request goes
/// again on a new connection when none of its body was read, so nothing can be lost or doubled.
/// </summary>
internal sealed partial class NativeForwarder
{
    private const int BodyBufferSize = 32 * 1024;

    // Room for a chunk-size line in front of the data, so a re-chunked piece is one send.
    private const int ChunkPrefix = 18;

    private static readonly byte[] LastChunk = "0\r\n\r\n"u8.ToArray();

    private readonly BackendConnectionPools _pools;
    private readonly RequestHeadWriter _headWriter;
    private readonly ILogger<NativeForwarder> _logger;
    private readonly TimeSpan _activityTimeout;
    private readonly TimeSpan _connectTimeout;
    private readonly bool _keepAlive;
    private readonly bool _debug;

    public NativeForwarder(BackendConnectionPools pools, RequestHeadWriter headWriter, IOptions<RouterOptions> options, ILogger<NativeForwarder> logger)
    {
        _pools = pools;
        _headWriter = headWriter;
        _logger = logger;
        var o = options.Value;
        // Q18, as the YARP path: a backend silent for tcpTimeout gets 504; connect within the smaller of both.
        _activityTimeout = o.TcpTimeout > TimeSpan.Zero ? o.TcpTimeout : TimeSpan.Zero;
        _connectTimeout = o.TcpTimeout > TimeSpan.Zero && o.TcpTimeout < o.ConnectTimeout ? o.TcpTimeout : o.ConnectTimeout;
        _keepAlive = o.HttpKeepAlive;
        _debug = o.Debug || o.Compatibility == CompatibilityMode.Hipache;
    }

    /// <summary>
    /// HTTP/1.0 and 1.1 requests without Upgrade, and HTTP/2 requests (their streams become
    /// HTTP/1.1 exchanges with the backend, a body of unknown length going chunked). WebSockets
    /// and other upgrades (h2c, Q25), CONNECT (extended CONNECT of WebSockets over HTTP/2) and
    /// HTTP/3 stay on YARP.
    /// </summary>
    public static bool CanForward(HttpContext context)
    {
        var request = context.Request;
        var protocol = request.Protocol;
        return (HttpProtocol.IsHttp11(protocol) || HttpProtocol.IsHttp10(protocol) || HttpProtocol.IsHttp2(protocol))
            && !request.Headers.ContainsKey(HeaderNames.Upgrade)
            && !HttpMethods.IsConnect(request.Method);
    }

    /// <summary>
    /// Whether the body goes to the backend chunked: the client's was (HTTP/1.1; Kestrel accepted
    /// it, so a Transfer-Encoding it has is chunked and won over any Content-Length), or an HTTP/2
    /// stream carries one without a content-length (its DATA frames have no HTTP/1.1 framing).
    /// </summary>
    private static bool SendsChunked(HttpContext context)
    {
        var request = context.Request;
        if (request.Headers.ContainsKey(HeaderNames.TransferEncoding))
        {
            return true;
        }

        return request.ContentLength is null && HttpProtocol.IsHttp2(request.Protocol)
            && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true;
    }

    /// <summary>One attempt on one backend: a pooled connection (or a new one), the exchange, the connection back to its pool.</summary>
    /// <param name="fresh">A new connection, not a pooled one (the keep-alive race's second try).</param>
    public ValueTask<ForwardOutcome> SendAsync(HttpContext context, BackendAddress backend, BodyReadTracker? body, bool fresh = false)
    {
        var pool = _pools.For(backend);
        // A request with a body cannot go again once its body started: make sure of the connection first.
        var acquire = pool.AcquireAsync(fresh || !_keepAlive, probe: body is not null, _connectTimeout, _activityTimeout, context.RequestAborted);
        // A pooled connection is there at once: no state machine of its own for this layer.
        return acquire.IsCompletedSuccessfully
            ? ExchangeAsync(context, pool, backend, acquire.Result, body, fresh)
            : AcquireThenExchangeAsync(context, pool, backend, acquire, body, fresh);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ForwardOutcome> AcquireThenExchangeAsync(HttpContext context, BackendConnectionPool pool, BackendAddress backend, ValueTask<BackendConnection> acquire, BodyReadTracker? body, bool resent)
    {
        BackendConnection connection;
        try
        {
            connection = await acquire.ConfigureAwait(false);
        }
        catch (BackendConnectException ex)
        {
            return new ForwardOutcome(ForwarderError.Request, ex.InnerException, ConnectFailed: true);
        }
        catch (TimeoutException ex)
        {
            return new ForwardOutcome(ForwarderError.RequestTimedOut, ex, ConnectFailed: false);
        }
        catch (OperationCanceledException ex) when (context.RequestAborted.IsCancellationRequested)
        {
            return new ForwardOutcome(ForwarderError.RequestCanceled, ex, ConnectFailed: false);
        }

        return await ExchangeAsync(context, pool, backend, connection, body, resent).ConfigureAwait(false);
    }

    /// <summary>
    /// One exchange on <paramref name="connection"/>, which goes back to <paramref name="pool"/> at
    /// its one exit (after EndExchange, so that the next user's exchange is never touched).
    /// </summary>
    /// <param name="resent">The request's second try after a connection closed without an answer: there is no third.</param>
    // Pooled: this method's box was the largest allocation of a proxied request (~340 B).
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ForwardOutcome> ExchangeAsync(HttpContext context, BackendConnectionPool pool, BackendAddress backend, BackendConnection connection, BodyReadTracker? body, bool resent)
    {
        var reused = connection.Reused;
        Exchange exchange;
        var request = context.Request;
        var aborted = context.RequestAborted;
        var chunked = SendsChunked(context);
        var hasBody = chunked || request.ContentLength > 0;
        var headRequest = HttpMethods.IsHead(request.Method);
        connection.BeginExchange(_activityTimeout, aborted);
        try
        {
            var length = _headWriter.Write(context, chunked, close: !_keepAlive, out var head);
            try
            {
                await connection.SendAsync(head.AsMemory(0, length)).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsBackendFault(ex))
            {
                exchange = Failed(ex, nothingReceived: true, aborted);
                goto Done;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(head);
            }

            var progress = hasBody ? new BodyProgress() : null;
            var bodyTask = hasBody ? SendBodyAsync(request.Body, chunked ? null : request.ContentLength, connection, progress!) : null;
            var response = connection.Head;
            int headLength;
            var received = false;
            try
            {
                while (true)
                {
                    headLength = ResponseHeadParser.TryParse(connection.Buffered, headRequest, response);
                    if (headLength == 0)
                    {
                        if (connection.Received(await connection.ReceiveAsync().ConfigureAwait(false)) == 0)
                        {
                            throw new IOException(received
                                ? "The backend closed the connection inside its response head."
                                : "The backend closed the connection without a response.");
                        }

                        received = true;
                        continue;
                    }

                    received = true;
                    if (!ResponseHeadParser.IsInterim(response))
                    {
                        break;
                    }

                    // 100 Continue and other interim responses: Kestrel answers the client's Expect itself.
                    connection.Consume(headLength);
                }
            }
            catch (Exception caught) when (IsBackendFault(caught))
            {
                var ex = connection.AsTimeout(caught);
                if (bodyTask is not null)
                {
                    var bodyFailedFirst = connection.AbortedBecause == AbortReason.RequestBodyFailed;
                    connection.Abort(AbortReason.ExchangeOver);
                    var sent = await bodyTask.ConfigureAwait(false);
                    if (bodyFailedFirst)
                    {
                        // The client's body failed (a bad chunk, too slow, gone) and stopped the wait: its fault, not the backend's.
                        exchange = new Exchange(new ForwardOutcome(sent.Error, sent.Exception, ConnectFailed: false), Reusable: false, NothingReceived: false);
                        goto Done;
                    }
                }

                exchange = Failed(ex, nothingReceived: !received && ex is not TimeoutException and not InvalidDataException, aborted);
                goto Done;
            }

            CopyHead(context, connection.Buffered[..headLength], response, connection.HeaderValues);
            connection.Consume(headLength);
            var copied = false;
            try
            {
                try
                {
                    await connection.Body.CopyAsync(response, response.DiscardBody ? DiscardingWriter.Instance : context.Response.BodyWriter).ConfigureAwait(false);
                }
                finally
                {
                    // The access log's byte count (Q22), when a trace exists for this request.
                    if (context.Features.Get<RequestTrace>() is { } trace)
                    {
                        trace.ResponseBytes += connection.Body.Copied;
                    }
                }

                copied = true;
            }
            catch (ClientWriteException ex)
            {
                await AbandonBodyAsync(connection, bodyTask).ConfigureAwait(false);
                exchange = new Exchange(new ForwardOutcome(aborted.IsCancellationRequested ? ForwarderError.ResponseBodyCanceled : ForwarderError.ResponseBodyClient, ex.InnerException ?? ex, false), false, false);
                goto Done;
            }
            catch (Exception ex) when (IsBackendFault(ex))
            {
                await AbandonBodyAsync(connection, bodyTask).ConfigureAwait(false);
                exchange = new Exchange(new ForwardOutcome(aborted.IsCancellationRequested ? ForwarderError.ResponseBodyCanceled : ForwarderError.ResponseBodyDestination, ex, false), false, false);
                goto Done;
            }

            var reusable = copied && _keepAlive && response.Reusable && connection.BufferedCount == 0;
            if (bodyTask is not null)
            {
                // Once the whole body was read from the client, only its last send may still be
                // completing (the backend answered after receiving it): wait for that. Otherwise
                // the backend answered early.
                if (!bodyTask.IsCompleted && !progress!.AllRead)
                {
                    // The backend answered before taking the whole body (a 413, a redirect): the rest
                    // of it would be read as the next request. Stop sending and close.
                    connection.Abort(AbortReason.ExchangeOver);
                    reusable = false;
                }

                var sent = await bodyTask.ConfigureAwait(false);
                reusable &= sent.Error == ForwarderError.None;
            }

            exchange = new Exchange(ForwardOutcome.Success, reusable, NothingReceived: false);
            goto Done;
        }
        finally
        {
            connection.EndExchange();
        }

    Done:
        pool.Release(connection, exchange.Reusable);
        if (exchange.NothingReceived && !resent && (reused || !hasBody && IsSafe(request.Method)) && body is not { Started: true } && !aborted.IsCancellationRequested)
        {
            // The keep-alive race: nothing of the request can have been taken; it goes again on a
            // new connection. So does a bodiless safe request (GET, HEAD, OPTIONS) whose new
            // connection closed without an answer: a backend shutting down gracefully accepts a
            // connection and closes it unserved (FaultsUnderLoadTests: one 502 in 7,676 requests
            // while a backend stopped). Once only: the second try connects anew, a backend that
            // is gone refuses it, and the caller retries that on another backend like any refused
            // connect; a backend that hangs up on every request gets it twice, then it is a 502.
            LogResent(_logger, reused ? "A pooled connection" : "A new connection", backend.HostAndPort, exchange.Outcome.Exception?.Message ?? string.Empty);
            return await SendAsync(context, backend, body, fresh: true).ConfigureAwait(false);
        }

        return exchange.Outcome;
    }

    /// <summary>Status, reason and headers onto the client's response, hop-by-hop and Connection-named ones dropped.</summary>
    private void CopyHead(HttpContext context, ReadOnlySpan<byte> head, ResponseHead response, HeaderValueCache values)
    {
        var target = context.Response;
        target.StatusCode = response.Status;
        if (response.ReasonLength > 0)
        {
            var reason = head.Slice(response.ReasonStart, response.ReasonLength);
            var standard = ReasonPhrases.GetReasonPhrase(response.Status);
            if (!Ascii.Equals(reason, standard))
            {
                // As YARP: only a reason that differs from the standard one is sent on.
                var feature = context.Features.Get<IHttpResponseFeature>();
                if (feature is not null)
                {
                    feature.ReasonPhrase = Encoding.ASCII.GetString(reason);
                }
            }
        }

        var headers = target.Headers;
        foreach (var slot in response.Headers)
        {
            var name = head.Slice(slot.NameStart, slot.NameLength);
            if (HopByHopHeaders.Contains(name) || Ascii.EqualsIgnoreCase(name, "Content-Length"u8)
                || (response.ConnectionNamesHeaders && ResponseHeadParser.IsNamedInConnection(head, response, name)))
            {
                continue;
            }

            headers.Append(ResponseHeaderNames.Get(name), values.Get(head.Slice(slot.ValueStart, slot.ValueLength)));
        }

        // A 204 or 205 has no content to measure (Kestrel refuses a length on them); a 304's
        // length describes the representation and is kept.
        if (response.ContentLength >= 0 && response.Status is not (204 or 205))
        {
            target.ContentLength = response.ContentLength;
        }

        if (_debug)
        {
            context.Features.Get<RequestTrace>()?.WriteDebugHeaders(headers, error: null);
        }
    }

    /// <summary>
    /// Streams the client's body to the backend while the response is awaited (a backend may
    /// answer before it has read it all). Chunked bodies go re-chunked as read, Content-Length ones as they are.
    /// </summary>
    private static async Task<BodyResult> SendBodyAsync(Stream body, long? contentLength, BackendConnection connection, BodyProgress progress)
    {
        var chunked = contentLength is null;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkPrefix + BodyBufferSize + 2);
        var total = 0L;
        try
        {
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer.AsMemory(ChunkPrefix, BodyBufferSize), connection.Token).ConfigureAwait(false);
                    total += read;
                    // Set before the send that follows, so before the backend can have all of it and answer.
                    progress.AllRead = read == 0 || total == contentLength;
                }
                catch (Exception ex)
                {
                    // Stop waiting for a response that cannot come: the backend waits for the rest of the body.
                    connection.Abort(AbortReason.RequestBodyFailed);
                    return new BodyResult(ex is BadHttpRequestException ? ForwarderError.RequestBodyClient : ForwarderError.RequestBodyCanceled, ex);
                }

                try
                {
                    if (read == 0)
                    {
                        if (chunked)
                        {
                            await connection.SendAsync(LastChunk).ConfigureAwait(false);
                        }

                        return default;
                    }

                    if (!chunked)
                    {
                        await connection.SendAsync(buffer.AsMemory(ChunkPrefix, read)).ConfigureAwait(false);
                        continue;
                    }

                    var sizeLine = ChunkSizeLine(read, buffer.AsSpan(0, ChunkPrefix));
                    buffer[ChunkPrefix + read] = (byte)'\r';
                    buffer[ChunkPrefix + read + 1] = (byte)'\n';
                    await connection.SendAsync(buffer.AsMemory(ChunkPrefix - sizeLine, sizeLine + read + 2)).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsBackendFault(ex))
                {
                    // The backend stopped taking the body; its response (a 413...) may still come.
                    return new BodyResult(ForwarderError.RequestBodyDestination, ex);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Whether the request body has been read to its end from the client (only sends remain).</summary>
    private sealed class BodyProgress
    {
        private volatile bool _allRead;

        public bool AllRead
        {
            get => _allRead;
            set => _allRead = value;
        }
    }

    /// <summary>Writes "hex\r\n" so that it ends at the end of <paramref name="prefix"/>; returns its length.</summary>
    private static int ChunkSizeLine(int size, Span<byte> prefix)
    {
        var position = prefix.Length - 2;
        prefix[position] = (byte)'\r';
        prefix[position + 1] = (byte)'\n';
        do
        {
            prefix[--position] = (byte)"0123456789abcdef"[size & 0xf];
            size >>= 4;
        }
        while (size != 0);

        return prefix.Length - position;
    }

    private static async ValueTask AbandonBodyAsync(BackendConnection connection, Task<BodyResult>? bodyTask)
    {
        if (bodyTask is not null)
        {
            connection.Abort(AbortReason.ExchangeOver);
            await bodyTask.ConfigureAwait(false);
        }
    }

    private static Exchange Failed(Exception ex, bool nothingReceived, CancellationToken aborted)
    {
        var error = aborted.IsCancellationRequested ? ForwarderError.RequestCanceled
            : ex is TimeoutException ? ForwarderError.RequestTimedOut
            : ForwarderError.Request;
        return new Exchange(new ForwardOutcome(error, ex, ConnectFailed: false), Reusable: false, NothingReceived: nothingReceived && error == ForwarderError.Request);
    }

    /// <summary>Failures of the backend connection (or its timer), as opposed to bugs.</summary>
    private static bool IsBackendFault(Exception ex) =>
        ex is IOException or InvalidDataException or SocketException or TimeoutException or OperationCanceledException or ObjectDisposedException;

    /// <summary>Methods that change nothing on the backend (RFC 9110 9.2.1): sent again when a connection closed before any answer.</summary>
    private static bool IsSafe(string method) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);

    [LoggerMessage(EventId = 70, Level = LogLevel.Debug, Message = "{Connection} to {Backend} was closed by the backend before any answer ({Reason}); the request went again on a new one")]
    private static partial void LogResent(ILogger logger, string connection, string backend, string reason);

    /// <param name="NothingReceived">The connection failed before any response byte (the keep-alive race when it was reused).</param>
    private readonly record struct Exchange(ForwardOutcome Outcome, bool Reusable, bool NothingReceived);

    private readonly record struct BodyResult(ForwarderError Error, Exception? Exception);
}
