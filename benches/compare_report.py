"""Summarises target/compare/results.jsonl (written by benches/compare.sh) as markdown:
per cell and server, the median messages/s with min-max, messages per server-CPU
second, round-trip latency, and ratios against the fastest Rust peer and the
ceiling; then memory per idle connection, and handshakes per server-CPU second in a
connection storm; last, wsock against each peer round by round (the median of the
per-round ratios, the rounds wsock won, and a 95% interval for that median; and the
same for the other server's p99 over wsock's), which is fairer than the medians'
ratio against the best of several peers where all of them are equal within noise.
The paired table also gives messages per CPU second of server and generator
together, and messages per second, since on loopback the two processes share the
delivery work between them according to which one sleeps."""
import json
import math
import statistics
import sys
from collections import defaultdict

# The Rust peers, and for the deflate cell the peers that implement permessage-deflate.
PEERS = [
    "tokio-tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "yawc",
    "sockudo-ws",
    "sockudo-ws-feed",
    "yawc-deflate",
    "ws-deflate",
    "websockets-deflate",
]


def main(path):
    runs = defaultdict(list)
    memory = {}
    storms = defaultdict(list)
    cells = []
    with open(path) as lines:
        for line in lines:
            row = json.loads(line)
            if "idle" in row:
                memory[row["server"]] = row
                continue
            if "storm" in row:
                storms[row["server"]].append(row)
                continue
            if row["cell"] not in cells:
                cells.append(row["cell"])
            runs[(row["cell"], row["server"])].append(row)

    print("| cell | server | msgs/s median (min-max) | msgs per server-CPU-s | p50 / p99 µs | generator CPU | vs fastest peer | vs ceiling |")
    print("|---|---|---|---|---|---|---|---|")
    for cell in cells:
        medians = {}
        for (c, server), rows in runs.items():
            if c != cell:
                continue
            good = [r for r in rows if r["bench"]]
            if not good:
                medians[server] = None
                continue
            rate = [r["bench"]["messages_per_second"] for r in good]
            per_cpu = [r["bench"]["messages"] / max(r["server_cpu_s"], 1e-9) for r in good]
            medians[server] = {
                "rate": statistics.median(rate),
                "min": min(rate),
                "max": max(rate),
                "per_cpu": statistics.median(per_cpu),
                "p50": statistics.median(r["bench"]["latency_us"]["p50"] for r in good),
                "p99": statistics.median(r["bench"]["latency_us"]["p99"] for r in good),
                "gen": statistics.median(r["bench"]["generator_cpu"] for r in good),
                "failed": len(rows) - len(good),
            }
        peer_rates = [medians[p]["per_cpu"] for p in PEERS if medians.get(p)]
        fastest_peer = max(peer_rates) if peer_rates else None
        ceiling = medians.get("ceiling")
        for server, m in medians.items():
            if m is None:
                print(f"| {cell} | {server} | failed | | | | | |")
                continue
            vs_peer = f"{m['per_cpu'] / fastest_peer:.2f}×" if fastest_peer else "n/a"
            vs_ceiling = f"{m['per_cpu'] / ceiling['per_cpu']:.2f}×" if ceiling else "n/a"
            note = f" ({m['failed']} failed)" if m["failed"] else ""
            print(
                f"| {cell} | {server} | {m['rate']:,.0f} ({m['min']:,.0f}-{m['max']:,.0f}){note} "
                f"| {m['per_cpu']:,.0f} | {m['p50']:.0f} / {m['p99']:.0f} | {m['gen'] * 100:.0f}% "
                f"| {vs_peer} | {vs_ceiling} |"
            )

    if memory:
        print()
        print("| server | KiB per idle connection |")
        print("|---|---|")
        for server, row in memory.items():
            per = (row["rss_idle_kib"] - row["rss_before_kib"]) / row["idle"]
            print(f"| {server} | {per:.2f} |")

    if storms:
        print()
        print("| server | connections | handshakes/s median | handshakes per server-CPU-s | handshake p50 / p99 µs | vs fastest peer |")
        print("|---|---|---|---|---|---|")
        medians = {}
        for server, rows in storms.items():
            good = [r for r in rows if r["bench"]]
            if not good:
                continue
            medians[server] = {
                "n": good[0]["storm"],
                "rate": statistics.median(r["bench"]["handshakes_per_second"] for r in good),
                "per_cpu": statistics.median(r["storm"] / max(r["server_cpu_s"], 1e-9) for r in good),
                "p50": statistics.median(r["bench"]["handshake_us"]["p50"] for r in good),
                "p99": statistics.median(r["bench"]["handshake_us"]["p99"] for r in good),
            }
        peer_rates = [medians[p]["per_cpu"] for p in PEERS if p in medians]
        fastest = max(peer_rates) if peer_rates else None
        for server, m in medians.items():
            vs = f"{m['per_cpu'] / fastest:.2f}×" if fastest else "n/a"
            print(
                f"| {server} | {m['n']} | {m['rate']:,.0f} | {m['per_cpu']:,.0f} "
                f"| {m['p50']:.0f} / {m['p99']:.0f} | {vs} |"
            )

    paired = {cell: {server: rows for (c, server), rows in runs.items() if c == cell} for cell in cells}
    print_paired(paired, CELL_RATES)
    print_paired({"storm": storms}, STORM_RATES)


def server_cpu_rate(row):
    return row["bench"]["messages"] / max(row["server_cpu_s"], 1e-9)


def both_cpu_rate(row):
    """Messages per CPU second of the server and the generator together. On loopback
    the sender's system call delivers to the receiver and wakes it, so which process
    pays for that work depends on which of the two was asleep; the sum does not."""
    bench = row["bench"]
    generator_cpu_s = bench["generator_cpu"] * bench["seconds"]
    return bench["messages"] / max(row["server_cpu_s"] + generator_cpu_s, 1e-9)


def wall_rate(row):
    return row["bench"]["messages_per_second"]


def inverse_p99(row):
    """The reciprocal of the round trip's 99th percentile, so that the paired ratio is
    the other server's p99 over wsock's: at least 1.0 where wsock's tail is no longer,
    and at least 1 / 1.2 where it is within the issue's 20% of the other's."""
    return 1 / max(row["bench"]["latency_us"]["p99"], 1e-9)


def storm_cpu_rate(row):
    return row["storm"] / max(row["server_cpu_s"], 1e-9)


def storm_wall_rate(row):
    return row["bench"]["handshakes_per_second"]


CELL_RATES = [
    ("wsock / it, per server-CPU second", server_cpu_rate),
    ("wsock / it, per CPU second of both", both_cpu_rate),
    ("wsock / it, messages per second", wall_rate),
    ("its p99 / wsock's", inverse_p99),
]
STORM_RATES = [
    ("wsock / it, per server-CPU second", storm_cpu_rate),
    ("wsock / it, handshakes per second", storm_wall_rate),
]


def median_interval(values, confidence=0.95):
    """A distribution-free confidence interval for the median of `values`: the pair of
    order statistics that brackets it with at least `confidence`, from the binomial
    distribution of how many values fall below the true median. None for fewer than
    six values, where no such pair reaches 95%."""
    n = len(values)
    ordered = sorted(values)
    # The largest k with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2: then the
    # k-th smallest and the k-th largest value bracket the median.
    below, k = 0.0, 0
    while True:
        below += math.comb(n, k) / 2**n
        if below > (1 - confidence) / 2:
            break
        k += 1
    if k == 0:
        return None
    return ordered[k - 1], ordered[n - k]


def paired_ratios(ours, theirs, rate):
    """The median of the per-round ratios of wsock's `rate` to another server's (a
    `rate` is higher when better, so a p99 enters as its reciprocal), in how many
    rounds wsock was at least as good, and a 95% interval for that median (from six
    rounds on); None where no round has both."""
    ratios = [rate(a) / rate(b) for a, b in zip(ours, theirs) if a["bench"] and b["bench"]]
    if not ratios:
        return None
    won = sum(r >= 1 for r in ratios)
    interval = median_interval(ratios)
    bounds = f"; {interval[0]:.2f}-{interval[1]:.2f}" if interval else ""
    return f"{statistics.median(ratios):.2f} ({won} of {len(ratios)}{bounds})"


def print_paired(paired, rates):
    """wsock against each other server that ran the same rounds of a cell (the peers,
    the ceiling, or an earlier build in an A/B run), round by round, by each of
    `rates`: fairer than the medians' ratio against the best of several peers where
    all of them are equal within noise."""
    lines = []
    for cell, servers in paired.items():
        ours = servers.get("wsock")
        if not ours:
            continue
        for peer, theirs in servers.items():
            if peer == "wsock" or len(theirs) != len(ours):
                continue
            figures = [paired_ratios(ours, theirs, rate) for _, rate in rates]
            if any(figures):
                lines.append(f"| {cell} | {peer} | " + " | ".join(f or "n/a" for f in figures) + " |")
    if lines:
        print()
        print("| cell | against | " + " | ".join(f"{name} (rounds won)" for name, _ in rates) + " |")
        print("|---" * (len(rates) + 2) + "|")
        print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/compare/results.jsonl")
