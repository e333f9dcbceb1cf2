#!/usr/bin/env bash
# End-to-end checks of the `firerun` CLI against real VMs.
set -uo pipefail
cli=$1 cache=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {  # check <description> <condition...>
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

# 1. Output and exit code of the guest command pass through.
out=$("$cli" run --cache "$cache" --image bash -- sh -c 'echo hi; exit 3' 2>"$tmp/err1"); rc=$?
check "bash: prints hi" test "$out" = "hi"
check "bash: exits 3 (got $rc)" test "$rc" -eq 3
check "bash: names the accelerator" grep -Eq 'accelerator (kvm|tcg)' "$tmp/err1"

# 2. Python image.
out=$("$cli" run --cache "$cache" --image python -q -- python3 -c 'print(1)'); rc=$?
check "python: prints 1" test "$out" = "1"
check "python: exits 0 (got $rc)" test "$rc" -eq 0

# 3. stdin forwarding and stderr separation.
out=$(printf 'abc' | "$cli" run --cache "$cache" -q -i -- sh -c 'tr a-z A-Z; echo oops >&2' 2>"$tmp/err3")
check "stdin: forwarded" test "$out" = "ABC"
check "stderr: kept separate" grep -qx oops "$tmp/err3"

# 4. Bad input gets a clear error and firerun's own exit code.
"$cli" run --cache "$cache" --image no-such-image -- true 2>"$tmp/err4"; rc=$?
check "unknown image: exit 125 (got $rc)" test "$rc" -eq 125
check "unknown image: says so" grep -q "no-such-image" "$tmp/err4"
"$cli" run --cache "$cache" --vcpus 0 -- true 2>"$tmp/err5"; rc=$?
check "vcpus=0: exit 125 (got $rc)" test "$rc" -eq 125
check "vcpus=0: names the field" grep -q "vcpus" "$tmp/err5"

# 5. --snapshot: the first run creates the image's snapshot, later runs restore fresh VMs from it.
"$cli" run --cache "$cache" --snapshot -q -- true
out=$("$cli" run --cache "$cache" --snapshot -- sh -c 'echo snap; exit 5' 2>"$tmp/err8"); rc=$?
check "snapshot: output" test "$out" = "snap"
check "snapshot: exit 5 (got $rc)" test "$rc" -eq 5
check "snapshot: restored, not booted" grep -q "restored from snapshot" "$tmp/err8"

# 6. Ctrl-C tears everything down.
"$cli" run --cache "$cache" -- sleep 1000 2>"$tmp/err6" &
pid=$!
for _ in $(seq 1 600); do grep -q "ready in" "$tmp/err6" 2>/dev/null && break; sleep 0.2; done
check "ctrl-c: VM came up" grep -q "ready in" "$tmp/err6"
kill -INT "$pid"; wait "$pid"; rc=$?
check "ctrl-c: exit 130 (got $rc)" test "$rc" -eq 130
sleep 0.5
no_vm_of() {  # no QEMU process runs a VM named after CLI pid $1 ("[0-9]" keeps pgrep from matching itself)
  ! pgrep -f -- "-name vm-$1-[0-9]" >/dev/null
}
check "ctrl-c: no QEMU left" no_vm_of "$pid"

# 7. The CLI killed with SIGKILL: QEMU must die with it (PR_SET_PDEATHSIG).
"$cli" run --cache "$cache" -- sleep 1000 2>"$tmp/err7" &
pid=$!
for _ in $(seq 1 600); do grep -q "ready in" "$tmp/err7" 2>/dev/null && break; sleep 0.2; done
check "kill -9: VM came up" grep -q "ready in" "$tmp/err7"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
for _ in $(seq 1 20); do no_vm_of "$pid" && break; sleep 0.1; done
check "kill -9: no QEMU left" no_vm_of "$pid"

[ $fail -eq 0 ] && echo "cli: all checks passed"
exit $fail
