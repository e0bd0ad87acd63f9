using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hipache.Aspire.BenchTools;

/// <summary>
/// <c>backend</c>: an HTTP/1.1 keep-alive server answering every request with 100 bytes, for
/// bench/faults.sh. <c>--slow-after S --delay-ms D</c>: from S seconds after start, every answer
/// waits D ms first (a backend that degrades). Killing or pausing it is the script's job.
/// </summary>
internal static class FaultBackend
{
    private static readonly byte[] Response = Encoding.ASCII.GetBytes(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + new string('x', 100));

    public static async Task<int> RunAsync(CommandLine options, CancellationToken cancellationToken)
    {
        var port = options.Int("port", 0);
        var slowAfter = options.Int("slow-after", 0, min: 0);
        var delay = TimeSpan.FromMilliseconds(options.Int("delay-ms", 2000, min: 0));
        var started = Environment.TickCount64;
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen(1024);
        Console.WriteLine($"backend listening on 127.0.0.1:{port}{(slowAfter > 0 ? $", {delay.TotalMilliseconds} ms per answer after {slowAfter} s" : string.Empty)}");
        while (!cancellationToken.IsCancellationRequested)
        {
            var connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            connection.NoDelay = true;
            _ = ServeAsync(connection, () => slowAfter > 0 && Environment.TickCount64 - started >= slowAfter * 1000L, delay, cancellationToken);
        }

        return 0;
    }

    private static async Task ServeAsync(Socket connection, Func<bool> slow, TimeSpan delay, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                var read = await connection.ReceiveAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                filled += read;
                int end;
                while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) >= 0)
                {
                    if (slow())
                    {
                        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    }

                    await connection.SendAsync(Response, cancellationToken).ConfigureAwait(false);
                    buffer.AsSpan(end + 4, filled - (end + 4)).CopyTo(buffer);
                    filled -= end + 4;
                }

                if (filled == buffer.Length)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
        }
        finally
        {
            connection.Dispose();
        }
    }
}
