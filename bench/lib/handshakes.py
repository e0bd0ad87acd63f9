#!/usr/bin/env python3
"""One TLS handshake per stored name (c<i, 6 digits>.tls.local), one at a time, to a router's TLS
port with the name as SNI: a cold pass (each name's first) and a warm pass, timed from connect to
the end of the handshake. OpenSSL through Python's ssl module: a lean client, so that the figures
are mostly the router's (BenchTools handshakes does the same with .NET's SslStream, whose own
chain building adds ~2 ms per handshake). Checks that each name got a certificate naming it.
  python3 bench/lib/handshakes.py PORT COUNT"""
import random
import socket
import ssl
import sys
import time


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    order = list(range(count))
    random.shuffle(order)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a throwaway CA: what is checked is which certificate came back
    failures = 0
    for name_of_pass in ("cold", "warm"):
        times = []
        for i in order:
            name = "c%06d.tls.local" % i
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port)) as raw:
                    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with context.wrap_socket(raw, server_hostname=name) as tls:
                        times.append((time.perf_counter() - started) * 1000)
                        if name.encode() not in tls.getpeercert(binary_form=True):
                            failures += 1
            except OSError:
                failures += 1
        times.sort()
        at = lambda p: times[min(len(times) - 1, max(0, int(-(-p * len(times) // 100)) - 1))]
        print("HANDSHAKES client=openssl pass=%s count=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f wrong_or_failed=%d"
              % (name_of_pass, len(times), at(50), at(90), at(99), times[-1], failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
