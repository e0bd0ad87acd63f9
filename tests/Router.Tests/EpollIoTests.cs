using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Hipache.Aspire.Router.Io;
using Hipache.Aspire.TestSupport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hipache.Aspire.Router.Tests;

/// <summary>
/// The epoll loops of <c>Router:IoEngine=Epoll</c> at their own level (the whole suite runs over
/// them too: HIPACHE_TEST_IO_ENGINE=Epoll in .ci/run): the transport's connections carry bytes both
/// ways with the real client address, see the client's FIN, refuse connections once unbound and
/// close on abort; backend sockets connect, report a refused connect as such, receive the data and
/// the FIN of one segment, and cancel a pending receive.
/// </summary>
public sealed class EpollIoTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly EpollLoops _loops = new(NullLogger<EpollLoops>.Instance);

    public void Dispose() => _loops.Dispose();

    [Fact]
    public async Task A_connection_carries_bytes_both_ways_with_the_client_address_and_ends_with_the_clients_fin()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Deadline);
        var (listener, client, connection) = await ConnectedAsync(receiveBufferSize: null, timeout.Token);
        await using var _ = listener;
        using var __ = client;
        Assert.Equal(client.LocalEndPoint, connection.RemoteEndPoint);
        Assert.Equal(client.RemoteEndPoint, connection.LocalEndPoint);

        await client.SendAsync(Encoding.ASCII.GetBytes("hello"), TestContext.Current.CancellationToken);
        Assert.Equal("hello", await ReadAsync(connection.Transport.Input, 5, timeout.Token));

        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes("world"), timeout.Token);
        var answer = new byte[16];
        var got = await client.ReceiveAsync(answer, timeout.Token);
        Assert.Equal("world", Encoding.ASCII.GetString(answer, 0, got));

        // Data and FIN together: the FIN must still be seen (no edge comes after it).
        await client.SendAsync(Encoding.ASCII.GetBytes("bye"), TestContext.Current.CancellationToken);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("bye", await ReadAsync(connection.Transport.Input, 3, timeout.Token));
        var end = await connection.Transport.Input.ReadAsync(timeout.Token);
        Assert.True(end.IsCompleted);

        // The app completes its output: the client sees the end.
        await connection.Transport.Output.CompleteAsync();
        Assert.Equal(0, await client.ReceiveAsync(answer, timeout.Token));
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_big_answer_in_many_blocks_reaches_a_slow_client_whole_and_in_order()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Deadline);
        var (listener, client, connection) = await ConnectedAsync(receiveBufferSize: 16 * 1024, timeout.Token);
        await using var _ = listener;
        using var __ = client;

        // 4 MiB in 4 KB blocks, more than the kernel buffers: sends gathered from several blocks,
        // partial sends and waits for write readiness, while the client has not read yet.
        var payload = new byte[4 * 1024 * 1024];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)(i * 7 % 251);
        }

        var writing = Task.Run(
            async () =>
            {
                for (var offset = 0; offset < payload.Length; offset += 4096)
                {
                    payload.AsSpan(offset, 4096).CopyTo(connection.Transport.Output.GetSpan(4096));
                    connection.Transport.Output.Advance(4096);
                    if (offset % (64 * 1024) == 0)
                    {
                        await connection.Transport.Output.FlushAsync(timeout.Token);
                    }
                }

                await connection.Transport.Output.FlushAsync(timeout.Token);
                await connection.Transport.Output.CompleteAsync();
            },
            timeout.Token);
        // The client reads only once its receive buffer holds a good part of what was sent: the
        // sends behind it have met a full kernel buffer by then.
        await Poll.UntilAsync(() => Task.FromResult(client.Available), available => available >= 8 * 1024, what: "the client's receive buffer to fill");

        var received = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int got;
        while ((got = await client.ReceiveAsync(chunk, timeout.Token)) > 0)
        {
            received.Write(chunk, 0, got);
        }

        await writing;
        Assert.Equal(payload.Length, received.Length);
        Assert.True(payload.AsSpan().SequenceEqual(received.ToArray()), "the bytes arrived changed or out of order");
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task An_unbound_listener_refuses_new_connections_and_an_aborted_connection_is_closed()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Deadline);
        var (listener, client, connection) = await ConnectedAsync(receiveBufferSize: null, timeout.Token);
        using var __ = client;

        await listener.UnbindAsync(timeout.Token);
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await late.ConnectAsync(listener.EndPoint, timeout.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Null(await listener.AcceptAsync(timeout.Token));

        connection.Abort(new ConnectionAbortedException("test"));
        var buffer = new byte[8];
        try
        {
            Assert.Equal(0, await client.ReceiveAsync(buffer, timeout.Token));
        }
        catch (SocketException ex)
        {
            Assert.Equal(SocketError.ConnectionReset, ex.SocketErrorCode);
        }

        Assert.True(connection.ConnectionClosed.IsCancellationRequested);
        await connection.DisposeAsync();
        await listener.DisposeAsync();
    }

    [Fact]
    public async Task A_backend_socket_exchanges_bytes_and_sees_data_and_fin_sent_together()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Deadline);
        using var socket = await LoopSocket.ConnectAsync(server.LocalEndPoint!, _loops.Next(), timeout.Token);
        using var accepted = await server.AcceptAsync(timeout.Token);

        var buffer = new byte[64];
        var pending = socket.ReceiveAsync(buffer, timeout.Token);
        Assert.False(pending.IsCompleted);
        Assert.Equal(4, await socket.SendAsync(Encoding.ASCII.GetBytes("ping"), timeout.Token));
        var got = await accepted.ReceiveAsync(new byte[16], timeout.Token);
        Assert.Equal(4, got);

        // The answer and the close in one go: both must arrive, though epoll reports them as one edge.
        await accepted.SendAsync(Encoding.ASCII.GetBytes("pong"), TestContext.Current.CancellationToken);
        accepted.Shutdown(SocketShutdown.Both);
        Assert.Equal("pong", Encoding.ASCII.GetString(buffer, 0, await pending));
        Assert.Equal(0, await socket.ReceiveAsync(buffer, timeout.Token));
    }

    [Fact]
    public async Task A_refused_connect_is_connection_refused_and_a_pending_receive_ends_with_its_token()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        EndPoint closed;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closed = probe.LocalEndPoint!;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Deadline);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await LoopSocket.ConnectAsync(closed, _loops.Next(), timeout.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen();
        using var socket = await LoopSocket.ConnectAsync(server.LocalEndPoint!, _loops.Next(), timeout.Token);
        using var silent = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await socket.ReceiveAsync(new byte[8], silent.Token));
    }

    [Fact]
    public async Task A_disposed_loop_wakes_closes_its_epoll_descriptor_and_takes_no_more_sockets()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        var loops = new EpollLoops(NullLogger<EpollLoops>.Instance);
        var loop = loops.Next();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen();
        using (await LoopSocket.ConnectAsync(server.LocalEndPoint!, loop, TestContext.Current.CancellationToken))
        {
            // Registered and working before the dispose.
        }

        loops.Dispose();
        await Poll.UntilAsync(
            async () =>
            {
                // Bounded: a connect registered just before the thread's last wait would never
                // see its event (CI hung here once without the bound).
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(2));
                try
                {
                    using var late = await LoopSocket.ConnectAsync(server.LocalEndPoint!, loop, attempt.Token);
                    return false;
                }
                catch (ObjectDisposedException)
                {
                    return true;
                }
                catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
                {
                    return false;
                }
            },
            closed => closed,
            what: "the loop's thread to close its epoll descriptor");
    }

    [Fact]
    public async Task An_unknown_io_engine_stops_the_router_at_start_naming_the_setting()
    {
        await using var redis = await TestRedis.StartAsync();
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            () => RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:IoEngine"] = "7" }));
        Assert.Contains("Router:IoEngine must be Sockets or Epoll (is 7)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_router_on_a_port_in_use_fails_to_start_instead_of_sharing_the_port()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "epoll is Linux's");
        await using var redis = await TestRedis.StartAsync();
        await using var first = await RunningRouter.StartAsync(redis, new Dictionary<string, string?> { ["Router:IoEngine"] = "Epoll" });
        // SO_REUSEPORT (what .NET's ReuseAddress also sets on Linux) let this one bind beside the
        // first and take half of its new connections, with no error anywhere.
        var error = await Assert.ThrowsAsync<IOException>(() => RunningRouter.StartAsync(redis, new Dictionary<string, string?>
        {
            ["Router:IoEngine"] = "Epoll",
            ["Router:Urls:0"] = $"http://127.0.0.1:{first.Port}",
        }));
        Assert.Contains("address already in use", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A listener on an ephemeral loopback port, a client connected to it and the accepted connection.</summary>
    private async Task<(IConnectionListener Listener, Socket Client, ConnectionContext Connection)> ConnectedAsync(int? receiveBufferSize, CancellationToken cancellationToken)
    {
        var listener = await new EpollTransportFactory(_loops, new SharedPools()).BindAsync(new IPEndPoint(IPAddress.Loopback, 0), cancellationToken);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (receiveBufferSize is { } size)
        {
            client.ReceiveBufferSize = size;
        }

        await client.ConnectAsync(listener.EndPoint, cancellationToken);
        var connection = await listener.AcceptAsync(cancellationToken);
        Assert.NotNull(connection);
        return (listener, client, connection);
    }

    private static async Task<string> ReadAsync(PipeReader input, int count, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            if (result.Buffer.Length >= count || result.IsCompleted)
            {
                var text = Encoding.ASCII.GetString(result.Buffer.Slice(0, Math.Min(count, result.Buffer.Length)).ToArray());
                input.AdvanceTo(result.Buffer.GetPosition(Math.Min(count, result.Buffer.Length)));
                return text;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private sealed class SharedPools : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => MemoryPool<byte>.Shared;
    }
}
