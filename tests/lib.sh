# lib.sh - what the shell tests share; each sources it right after `cd` to the repository
# root. It sets LEXT (the CLI: LEXT_BIN names another build, as tests/run.sh does for
# `make asan`) and PY (Debian's python3, which has torch and numpy), makes a temporary
# directory $tmp removed at exit, and defines the counters behind the summary line that
# tests/run.sh adds up ("NAME: N passed, M failed", then a non-zero exit on any failure).
LEXT=${LEXT_BIN:-./lext}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# check_cmd NAME CMD... : the command succeeds (its last lines shown when it does not)
check_cmd() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name: $(tail -3 <<<"$out")"; fi
}

# expect_fail NAME SUBSTRING CMD... : non-zero exit, stderr contains SUBSTRING, no crash
expect_fail() {
    local name=$1 want=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 0 ]; then bad "$name: exit 0, expected failure"; return; fi
    if [ $rc -ge 128 ]; then bad "$name: crashed (exit $rc): $err"; return; fi
    if ! grep -qiF -- "$want" <<<"$err"; then bad "$name: message lacks '$want': $err"; return; fi
    ok "$name"
}

# summary NAME: the last line, and the exit status of the test
summary() {
    echo "$1: $pass passed, $fail failed"
    [ $fail -eq 0 ]
}
