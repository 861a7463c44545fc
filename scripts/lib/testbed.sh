# Shared by the scripts in scripts/: start `tagwarden-testbed serve` in the background and
# wait for its address. Source it after setting TESTBED and creating the folder $work.
#
#   testbed_start NAME [SERVE ARGS...]   sets $ADDR; logs to $work/NAME.log
#   testbed_stop_all                     stops every testbed this shell started
#
# The testbed removes its registry's storage when it stops (SIGTERM).

TESTBED_PIDS=()

testbed_start() {
    local name=$1
    shift
    rm -f "$work/$name.addr"
    "$TESTBED" serve --addr-file "$work/$name.addr" "$@" >"$work/$name.log" 2>&1 &
    TESTBED_PIDS+=($!)
    local pid=$!
    for _ in $(seq 1 300); do
        [ -s "$work/$name.addr" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; exit 3; }
        sleep 0.1
    done
    [ -s "$work/$name.addr" ] || { echo "the test registry did not start; see $work/$name.log" >&2; cat "$work/$name.log" >&2; exit 3; }
    ADDR=$(cat "$work/$name.addr")
}

testbed_stop() { # PID
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

testbed_stop_all() {
    local pid
    for pid in "${TESTBED_PIDS[@]}"; do testbed_stop "$pid"; done
    TESTBED_PIDS=()
}
