# Helpers shared by the test scripts (sourced, not run).

# Prints a free TCP port on 127.0.0.1: one the kernel picks, or with FROM the first
# free one from FROM up. Scripts that pick ports at the same time take FROMs far
# apart (below the kernel's ephemeral range, which starts at 32768), so that two of
# them cannot be handed the same port before either listens on it.
free_port() {
  python3 - "${1:-0}" <<'PY'
import socket, sys
start = int(sys.argv[1])
for port in ([0] if start == 0 else range(start, start + 1000)):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
else:
    sys.exit(f"no free port from {start}")
PY
}

# Waits (at most 10 s) until something listens on 127.0.0.1:$1.
wait_for_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing is listening on 127.0.0.1:$1" >&2
  return 1
}

# Heads a step, with the seconds the script has run so far, so a slow step shows in a log.
step() {
  echo
  echo "== [${SECONDS} s] $*"
}

# bench_row OUT PID LABELS BENCH_ARGS...: runs `$WSOCK bench BENCH_ARGS --json` on core 1
# and appends {LABELS, "server_cpu_s": …, "bench": …} to OUT, where server_cpu_s is the
# CPU time process PID spent meanwhile (bench is null if the run failed). LABELS is
# JSON members, e.g. '"size": 16'.
bench_row() {
  local out=$1 pid=$2 labels=$3
  shift 3
  local before after result
  before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  result=$(taskset -c 1 "$WSOCK" bench "$@" --json 2>/dev/null) || result=null
  after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  echo "{$labels, \"server_cpu_s\": $(( after - before ))e-2, \"bench\": $result}" >>"$out"
  echo "  {$labels}: $(echo "$result" | head -c 100)" >&2
}
