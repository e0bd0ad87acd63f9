namespace Hipache.Aspire.BenchTools;

internal static class Usage
{
    public const string Text = """
        usage: BenchTools <command> [--option value ...]

        load         writes N frontends into Redis through RouteStore's RouteWriter
          --redis <connection string>     required, e.g. 127.0.0.1:21479
          --count <N>                     frontends (default 1000000)
          --backends <url,url>            backend URLs (default http://127.0.0.1:21201,http://127.0.0.1:21202);
                                          frontend i gets the first one, and the second too when i is even
          --concurrency <n>               batches of 1000 frontends in flight (default 4)
          host of frontend i: ScaleHosts.Name(i) = s<i, 7 digits>.scale.local (bench/lib/scale-random.lua builds the same)

        admin-churn  C clients add and remove backends through the admin API and time the router
          --admin <url>                   required, the admin API, e.g. http://127.0.0.1:21190
          --key <api key>                 required (or env ADMIN_KEY)
          --router <url>[,<url>...]       the routers' routed listeners, e.g. http://127.0.0.1:21184; with several,
                                          a propagation ends when the last of them reflects the call
          --backend <url>                 the URL added and removed (default http://127.0.0.1:21201)
          --clients <n>                   concurrent clients, one frontend each (default 16)
          --duration <s>                  seconds of churn (default 20)
          --rate <calls/s>                pace all clients together to this many calls a second (default 0: unpaced)
          --check true|false              after each call poll the router until it reflects it (default true)
          --check-timeout-ms <ms>         give up on one propagation after this (default 10000; the route cache TTL is 5 s)
          --keep-going true|false         after a failed call (a 503 mid-failover), repeat it every 100 ms instead of stopping that client (default false)

        certs        writes N certificates into the certificate store (host i: c<i, 6 digits>.tls.local)
          --redis <connection string>     required
          --key <certificate store key>   required: the routers' CertificateStore:Keys value (id "bench")
          --count <N>                     certificates (default 10000)

        handshakes   one TLS handshake per stored name with it as SNI, one at a time: a cold pass, then a warm one
          --port <p>                      required: the router's TLS listener on 127.0.0.1
          --count <N>                     names c000000..c<N-1> (default 10000)

        dead-marks   how soon every router honours a dead mark made by another (routers need Router:Debug=true)
          --redis <connection string>     required
          --router <url>[,<url>...]       required, the routers' routed listeners
          --backends <url,url>            the frontend's two backends (default http://127.0.0.1:21201,http://127.0.0.1:21202)
          --trials <n>                    frontends marked, one after the other (default 200)

        backend      an HTTP/1.1 keep-alive server answering 100 bytes (bench/faults.sh)
          --port <p>                      required
          --slow-after <s>                from this many seconds after start, delay every answer (default 0: never)
          --delay-ms <ms>                 that delay (default 2000)
        """;
}
