#!/usr/bin/env python3
"""Helper of bench/soak.sh (Python 3.11 standard library only).

  soak_tool.py ports N      N free loopback TCP ports, on one line
  soak_tool.py report DIR   the soak's report from the files soak.sh left in DIR
"""
import json
import re
import socket
import sys
from collections import Counter
from pathlib import Path

# A failure this close after a backend restart still belongs to its down window: the router
# may hold a dead mark or a refused connection attempt for a moment.
GRACE_SECONDS = 2


def ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in sockets))
    finally:
        for s in sockets:
            s.close()


def wrk_result(path):
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("SOAKJSON "):
            return json.loads(line[len("SOAKJSON "):])
    raise SystemExit(f"{path}: no SOAKJSON line (did wrk run?):\n{path.read_text(errors='replace')}")


def events(path):
    result = []
    for line in path.read_text().splitlines():
        t, _, what = line.partition(" ")
        result.append((int(t), what))
    return result


def windows(evts, name):
    """[(down, up)] of a backend from the kill/start events."""
    result, down = [], None
    for t, what in evts:
        if what == f"kill {name}":
            down = t
        elif what == f"start {name}" and down is not None:
            result.append((down, t))
            down = None
    if down is not None:
        result.append((down, 10**12))
    return result


def socket_errors(r):
    e = r["errors"]
    return e["connect"] + e["read"] + e["write"] + e["timeout"]


def non_2xx(r):
    return sum(v for k, v in r["statuses"].items() if not 200 <= int(k) <= 299)


def nearest_event(t, evts):
    best = min(evts, key=lambda e: abs(e[0] - t))
    return f"{best[1]} {t - best[0]:+d}s"


def router_messages(path):
    """Warnings and errors of the router log, numbers and ports folded so that alike lines count together."""
    counts = Counter()
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for i, line in enumerate(lines):
        m = re.match(r"^(warn|fail|crit): (\S+)", line)
        if m:
            message = lines[i + 1].strip() if i + 1 < len(lines) else ""
            message = re.sub(r"\d+", "N", message)
            counts[f"{m.group(1)} {m.group(2)}: {message}"] += 1
    return counts


def backend_failures(path):
    """The router's own account of each 502/504 it answered after a backend failed (ProxyHandler event 60), by reason."""
    counts = Counter()
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for i, line in enumerate(lines):
        if line.startswith("warn: Hipache.Aspire.Router.Forwarding.ProxyHandler[60]") and i + 1 < len(lines):
            m = re.search(r"failed \((\w+)\): (.*)$", lines[i + 1])
            if m:
                reason = re.sub(r"\(\d+\.\d+\.\d+\.\d+:\d+\)", "", m.group(2)).strip()
                counts[f"{m.group(1)}: {reason}"] += 1
    return counts


def series(rows, column):
    values = [r[column] for r in rows]
    return values[0], max(values), values[-1]


def report(directory):
    d = Path(directory)
    evts = events(d / "events.log")
    start = next(t for t, what in evts if what == "start")
    end = next((t for t, what in evts if what == "traffic done"), evts[-1][0])
    commit = (d / "commit").read_text().strip() if (d / "commit").exists() else "?"
    get, post, solo = (wrk_result(d / f"wrk-{k}.txt") for k in ("get", "post", "solo"))

    print(f"soak of commit {commit}, {end - start} s of traffic")
    print()
    print("| traffic | requests | req/s | non-2xx | socket errors (connect/read/write/timeout) | latency mean / p99 / max |")
    print("|---|---:|---:|---:|---|---|")
    for name, r in (("GET, 8 hosts", get), ("POST 256 B, 8 hosts", post), ("GET solo.soak", solo)):
        e = r["errors"]
        seconds = r["duration_us"] / 1e6
        lat = r["latency_us"]
        print(f"| {name} | {r['requests']} | {r['requests'] / seconds:.0f} | {non_2xx(r)} | "
              f"{socket_errors(r)} ({e['connect']}/{e['read']}/{e['write']}/{e['timeout']}) | "
              f"{lat['mean'] / 1000:.2f} / {lat['p99'] / 1000:.2f} / {lat['max'] / 1000:.0f} ms |")
    total = get["requests"] + post["requests"] + solo["requests"]
    seconds = max(r["duration_us"] for r in (get, post, solo)) / 1e6
    print(f"| all | {total} | {total / seconds:.0f} | | | |")
    print()

    healthy = non_2xx(get) + socket_errors(get) + non_2xx(post) + socket_errors(post)
    solo_windows = windows(evts, "solo")
    inside = outside = 0
    for item in solo["failure_times"]:
        t = int(item.split(":")[0])
        if any(down <= t <= up + GRACE_SECONDS for down, up in solo_windows):
            inside += 1
        else:
            outside += 1
    print("| failed requests | count |")
    print("|---|---:|")
    print(f"| with a healthy backend available (8 traffic hosts, GET + POST) | {healthy} |")
    print(f"| expected: solo.soak while its only backend was down ({len(solo_windows)} windows, {sum(min(u, end) - dn for dn, u in solo_windows)} s) | {inside} |")
    print(f"| solo.soak outside its down windows (+{GRACE_SECONDS} s) | {outside} |")
    print(f"| solo.soak socket errors (not attributable in time) | {socket_errors(solo)} |")
    print()
    print("router's reason for each backend failure it answered with 502/504 (router.log, ProxyHandler[60]):")
    for reason, n in backend_failures(d / "router.log").most_common():
        print(f"  {n:6d}  {reason}")
    print()
    for name, r in (("GET", get), ("POST", post), ("solo", solo)):
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        print(f"{name} statuses: {statuses}")
    for name, r in (("GET", get), ("POST", post)):
        by_second = Counter(int(item.split(":")[0]) for item in r["failure_times"])
        if by_second:
            print(f"{name} failures by second (nearest chaos event):")
            for t, n in sorted(by_second.items()):
                print(f"  t={t - start:4d}s {n:5d}  ({nearest_event(t, evts)})")
    print()

    rows = []
    for line in (d / "samples.txt").read_text().split("\n"):
        if line.strip():
            t, rss, threads, fds, socks = (int(x) for x in line.split())
            rows.append({"t": t, "rss": rss / 1024, "threads": threads, "fds": fds, "sockets": socks})
    rows.sort(key=lambda r: r["t"])
    gaps = [(a["t"], b["t"]) for a, b in zip(rows, rows[1:]) if b["t"] - a["t"] > 20]
    if gaps:
        print("sampling gaps: " + ", ".join(f"{a}..{b} s" for a, b in gaps))
    print(f"router process, {len(rows)} samples every 10 s (t = {rows[0]['t']} .. {rows[-1]['t']} s)")
    print()
    # Growth is judged after the warm-up (JIT tiering, pools filling): from the first sample at
    # 60 s or a tenth of the run, whichever is earlier.
    warm = next(r for r in rows if r["t"] >= min(60, rows[-1]["t"] / 10))
    print(f"| resource | first | at {warm['t']} s (warm) | max | last |")
    print("|---|---:|---:|---:|---:|")
    for column, label, fmt in (("rss", "RSS (MiB)", "{:.0f}"), ("threads", "threads", "{}"), ("fds", "open fds", "{}"), ("sockets", "sockets", "{}")):
        first, top, last = series(rows, column)
        print(f"| {label} | {fmt.format(first)} | {fmt.format(warm[column])} | {fmt.format(top)} | {fmt.format(last)} |")
    print()
    for column in ("rss", "fds", "sockets"):
        print(f"{column:8s} " + " ".join(f"{r[column]:.0f}" for r in rows))
    print()

    churn = (d / "churn.count").read_text().split() if (d / "churn.count").exists() else ["0", "0", "0"]
    changes = int(churn[0])
    # While Redis is down the churn's own RPUSH fails, so its new host is unknown: expected.
    redis_windows = windows(evts, "redis")
    churn_failures = [int(line.split()[0]) for line in (d / "churn.log").read_text().splitlines()] if (d / "churn.log").exists() else []
    during_outage = sum(1 for t in churn_failures if any(dn <= t <= up + GRACE_SECONDS for dn, up in redis_windows))
    print(f"route churn: {changes} changes ({changes / max(end - start, 1):.1f}/s); "
          f"new hosts requested once: {churn[1]} answered 200, {churn[2]} did not, of which {during_outage} "
          f"while Redis was down (their RPUSH failed) and {len(churn_failures) - during_outage} otherwise (churn.log)")
    print("chaos events: " + ", ".join(f"{what} @{t - start}s" for t, what in evts if what not in ("start", "traffic done")))
    exit_code, millis = (d / "router.exit").read_text().split() if (d / "router.exit").exists() else ("?", "?")
    print(f"router after SIGTERM: exit code {exit_code} after {millis} ms")
    messages = router_messages(d / "router.log")
    print(f"router log warnings/errors: {sum(messages.values())}")
    for message, n in messages.most_common(20):
        print(f"  {n:6d}  {message[:220]}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "ports":
        ports(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
