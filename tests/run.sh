#!/usr/bin/env bash
# The whole test suite of ksmbd-deno (`deno task test`).
#
#  1. installs the real SMB peers from apt when missing (smbclient, smbtorture, rpcclient, smbd,
#     impacket for /usr/bin/python3, and MIT Kerberos: krb5-kdc, krb5-admin-server, krb5-user);
#  2. finds deno (or installs deno@2.9.6 from npm into .tools/);
#  3. builds the WASM module (deno task build:wasm), type-checks the project (deno task check), and runs
#     `deno lint` and `deno fmt --check` (the project's rules: DEVELOPERS.md);
#  4. runs the unit tests (every *_test.ts under tests/ except tests/interop/, and rpc-wasm/tests/),
#     one `deno test` per file so that a file that fails to load cannot hide the others;
#  5. runs the interop tests (every *_test.ts under tests/interop/, subdirectories such as
#     tests/interop/malformed/ included: real clients against cli/serve.ts), one `deno test` per file.
#
# Every test case is counted once per leaf (a test with steps counts its leaf steps); the build, the
# type check, the lint and the format check count as one case each. Failures are listed at the end; the LAST line is exactly
# "N passed, N failed". Exit status is non-zero when anything failed.
#
# Environment: KSMBD_TEST_TARGET=samba runs the interop tests against a private Samba smbd instead;
# KSMBD_TEST_ONLY=unit|interop runs one group; KSMBD_TEST_FILTER=<regex> keeps the test files whose path
# (e.g. tests/interop/malformed/negotiate_test.ts) matches.

set -uo pipefail
# Not `set -e`: every stage runs and is counted even when an earlier one failed.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT="$(pwd)"
DENO_VERSION="2.9.6"
UNIT_FILE_TIMEOUT="${KSMBD_UNIT_FILE_TIMEOUT:-600}"
INTEROP_FILE_TIMEOUT="${KSMBD_INTEROP_FILE_TIMEOUT:-1200}"

RESULTS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ksmbd-test-results.XXXXXX")"
trap 'rm -rf "$RESULTS_DIR"' EXIT

passed=0
failed=0
skipped=0
failures=()

log() { printf '\n=== %s\n' "$*"; }
record_pass() { passed=$((passed + 1)); }
record_fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAILED: %s\n' "$1"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

# --- 1. SMB peers ----------------------------------------------------------------------------------
ensure_peers() {
  local missing=()
  command -v smbclient >/dev/null 2>&1 || missing+=(smbclient)
  command -v smbtorture >/dev/null 2>&1 || missing+=(samba-testsuite)
  { command -v rpcclient >/dev/null 2>&1 && command -v smbpasswd >/dev/null 2>&1; } || missing+=(samba-common-bin)
  command -v smbd >/dev/null 2>&1 || [ -x /usr/sbin/smbd ] || missing+=(samba)
  /usr/bin/python3 -c "import impacket.smbconnection" >/dev/null 2>&1 || missing+=(python3-impacket)
  command -v useradd >/dev/null 2>&1 || [ -x /usr/sbin/useradd ] || missing+=(passwd)
  # strace counts the server's fsyncs in the durability tests (tests/helpers/fsync_trace.ts).
  command -v strace >/dev/null 2>&1 || missing+=(strace)
  # Kerberos (tests/helpers/kdc.ts): a private MIT KDC, kadmin.local (krb5-admin-server; kadmind is
  # never started) and kinit/klist/kvno.
  { command -v krb5kdc >/dev/null 2>&1 || [ -x /usr/sbin/krb5kdc ]; } || missing+=(krb5-kdc)
  { command -v kadmin.local >/dev/null 2>&1 || [ -x /usr/sbin/kadmin.local ]; } || missing+=(krb5-admin-server)
  { command -v kinit >/dev/null 2>&1 && command -v kvno >/dev/null 2>&1; } || missing+=(krb5-user)
  [ -x /usr/bin/etcd ] || missing+=(etcd-server) # tests/helpers/etcd.ts (cluster tests, issue 13)
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "SMB peers present"
    return 0
  fi
  log "installing missing SMB peers: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not available: cannot install ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

# smbd and useradd live in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

log "SMB peers"
ensure_peers || record_fail "install SMB peers (apt)"

# --- 2. deno ---------------------------------------------------------------------------------------
log "deno"
DENO=""
if command -v deno >/dev/null 2>&1; then
  DENO="$(command -v deno)"
elif [ -x "$ROOT/.tools/node_modules/.bin/deno" ]; then
  DENO="$ROOT/.tools/node_modules/.bin/deno"
else
  echo "deno not on PATH: installing deno@$DENO_VERSION from npm into .tools/"
  if npm install --prefix "$ROOT/.tools" --no-audit --no-fund "deno@$DENO_VERSION" >&2 &&
    [ -x "$ROOT/.tools/node_modules/.bin/deno" ]; then
    DENO="$ROOT/.tools/node_modules/.bin/deno"
  fi
fi
if [ -z "$DENO" ]; then
  record_fail "deno is not available (npm install deno@$DENO_VERSION failed)"
  echo
  printf '%d passed, %d failed\n' "$passed" "$failed"
  exit 1
fi
# Tasks and tests that run "deno" must find this one.
export PATH="$(dirname "$DENO"):$PATH"
"$DENO" --version | head -n 1

has_task() { grep -q "\"$1\"[[:space:]]*:" "$ROOT/deno.json" 2>/dev/null; }

# --- 3. build, type check, lint and format --------------------------------------------------------
if has_task "build:wasm"; then
  log "deno task build:wasm"
  if "$DENO" task build:wasm; then record_pass; else record_fail "deno task build:wasm"; fi
fi

checked=0
if has_task "check"; then
  log "deno task check"
  if "$DENO" task check; then record_pass; else record_fail "deno task check (type errors)"; fi
  checked=1
fi
# Lint and format: one case each, so that the test command fails when either does (issue 15).
log "deno lint"
if "$DENO" lint; then record_pass; else record_fail "deno lint (lint errors)"; fi
log "deno fmt --check"
if "$DENO" fmt --check; then record_pass; else record_fail "deno fmt --check (unformatted files)"; fi

# Types were checked above (and counted): the test runs skip re-checking, so that a type error in one
# module does not stop every test file importing it from running.
CHECK_FLAG=()
[ "$checked" -eq 1 ] && CHECK_FLAG=(--no-check)

# --- 4./5. tests -----------------------------------------------------------------------------------
# Runs one test file with a time limit and counts its leaves from the junit report.
run_test_file() {
  local file="$1" limit="$2" report code summary counts p f s
  report="$RESULTS_DIR/$(printf '%s' "$file" | tr '/.' '__').xml"
  echo
  echo "--- $file"
  timeout --kill-after=30 "$limit" "$DENO" test --allow-all --unstable-worker-options "${CHECK_FLAG[@]}" \
    --junit-path="$report" "$file"
  code=$?
  summary="$("$DENO" run --allow-read "$ROOT/tests/helpers/junit_summary.ts" "$report" 2>/dev/null)"
  counts="$(printf '%s\n' "$summary" | tail -n 1)"
  read -r p f s <<<"$counts"
  if ! [[ "${p:-}" =~ ^[0-9]+$ && "${f:-}" =~ ^[0-9]+$ && "${s:-}" =~ ^[0-9]+$ ]]; then p=0; f=0; s=0; fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  while IFS= read -r line; do
    [[ "$line" == FAILED:* ]] && failures+=("${line#FAILED: }")
  done <<<"$summary"
  if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then
    # Crashed, failed to load, timed out, or a sanitizer/uncaught error outside any test case.
    local why="exit code $code"
    [ "$code" -eq 124 ] || [ "$code" -eq 137 ] && why="timed out after ${limit}s"
    record_fail "$file: deno test $why without a failing test case (load error, crash or timeout?)"
  fi
}

find_tests() {
  # $@: directories; prints test files sorted, one per line
  find "$@" -type f \( -name '*_test.ts' -o -name '*.test.ts' -o -name '*_test.js' -o -name '*_test.mjs' \) \
    -not -path '*/node_modules/*' 2>/dev/null | sort
}

filter_tests() {
  if [ -n "${KSMBD_TEST_FILTER:-}" ]; then grep -E -- "$KSMBD_TEST_FILTER" || true; else cat; fi
}

only="${KSMBD_TEST_ONLY:-all}"

if [ "$only" = "all" ] || [ "$only" = "unit" ]; then
  log "unit tests"
  unit_dirs=(tests)
  [ -d rpc-wasm/tests ] && unit_dirs+=(rpc-wasm/tests)
  mapfile -t unit_files < <(find_tests "${unit_dirs[@]}" | grep -v '^tests/interop/' | filter_tests)
  echo "${#unit_files[@]} unit test files"
  for file in "${unit_files[@]}"; do run_test_file "$file" "$UNIT_FILE_TIMEOUT"; done
fi

if [ "$only" = "all" ] || [ "$only" = "interop" ]; then
  log "interop tests (target: ${KSMBD_TEST_TARGET:-ksmbd})"
  mapfile -t interop_files < <(find_tests tests/interop | filter_tests)
  echo "${#interop_files[@]} interop test files"
  for file in "${interop_files[@]}"; do run_test_file "$file" "$INTEROP_FILE_TIMEOUT"; done
fi

# --- summary ---------------------------------------------------------------------------------------
log "summary"
if [ "${#failures[@]}" -gt 0 ]; then
  echo "Failures (${#failures[@]}):"
  for f in "${failures[@]}"; do echo "  - $f"; done
fi
[ "$skipped" -gt 0 ] && echo "($skipped ignored)"
printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
