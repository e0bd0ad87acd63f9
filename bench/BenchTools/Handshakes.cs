using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Hipache.Aspire.BenchTools;

/// <summary>
/// <c>handshakes</c>: one TLS handshake per name, one at a time, to a router's TLS port with the
/// name as SNI (<see cref="CertificateLoader.Name"/>, in a shuffled order), timed from connect to
/// the end of the handshake, and the certificate checked to be the name's own. A first pass finds
/// every name cold (not yet in the router's memory); a second pass over the same names, warm.
/// </summary>
internal static class Handshakes
{
    public static async Task<int> RunAsync(CommandLine options, CancellationToken cancellationToken)
    {
        var port = options.Int("port", 0);
        var count = options.Int("count", 10_000);
        var order = Enumerable.Range(0, count).ToArray();
        Random.Shared.Shuffle(order);
        var failures = 0;
        foreach (var pass in new[] { "cold", "warm" })
        {
            var times = new List<double>(count);
            foreach (var i in order)
            {
                var name = CertificateLoader.Name(i);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
                    await using var stream = new NetworkStream(socket, ownsSocket: false);
                    await using var ssl = new SslStream(stream);
                    string? subject = null;
                    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                    {
                        TargetHost = name,
                        // A throwaway CA: what is checked is that the router chose this name's certificate.
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => (subject = certificate?.Subject) is not null,
                    }, cancellationToken).ConfigureAwait(false);
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (subject != $"CN={name}")
                    {
                        failures++;
                    }
                }
                catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException)
                {
                    failures++;
                }
            }

            var p = new Percentiles(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"HANDSHAKES pass={pass} count={p.Count} p50_ms={p.At(50):F2} p90_ms={p.At(90):F2} p99_ms={p.At(99):F2} max_ms={p.At(100):F2} wrong_or_failed={failures}"));
        }

        return failures == 0 ? 0 : 1;
    }
}
