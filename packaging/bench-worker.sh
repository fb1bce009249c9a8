#!/usr/bin/env bash
# Two worker measurements the pipeline promises, on SQLite in a scratch directory:
#
# 1. Upload → `ready` through the API: `docmerge all` (serve + worker in one process, the laptop
#    set-up), idle; each file is uploaded alone, the document is polled until it is `ready`,
#    and the time runs from the upload's start to the server's own `updated_at` of the
#    document. Default files: the corpus' single-page 300-dpi scans and image-only PDFs.
# 2. Peak RSS of a `docmerge worker` process (separate from `docmerge serve`) while it processes
#    the corpus' 2000-page bad input, read from /proc/PID/status (VmHWM) once the document is
#    `ready` or `failed`.
#
# usage: packaging/bench-worker.sh [--binary PATH] [--runs N] [FILE...]
# env:   DOCMERGE_TEST_CORPUS (the corpus folder), DOCMERGE_RUNTIME_DIR (lib/ + models/)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$repo/target/release/docmerge"
runs=3
files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -*) echo "bench-worker: unknown argument $1" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done

die() { echo "bench-worker: $*" >&2; exit 1; }
[[ -x "$binary" ]] || die "no docmerge binary at $binary (cargo build --release, or --binary PATH)"
corpus="${DOCMERGE_TEST_CORPUS:?set DOCMERGE_TEST_CORPUS to the corpus folder}"
runtime="${DOCMERGE_RUNTIME_DIR:-$repo/.runtime}"
[[ -f "$runtime/lib/libpdfium.so" ]] || die "no runtime files in $runtime (scripts/fetch-runtime.sh)"
command -v jq >/dev/null || die "jq is needed"
if [[ ${#files[@]} -eq 0 ]]; then
  files=("$corpus"/scan-phototest.png "$corpus"/scan-paperless-simple.jpg "$corpus"/io-paperless-simple.pdf
         "$corpus"/io-paperless-with-form.pdf "$corpus"/io-cupertino-agenda.pdf "$corpus"/io-latex-blindtext.pdf)
fi
for f in "${files[@]}"; do [[ -f "$f" ]] || die "no file $f"; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

pids=()
work="$(mktemp -d /tmp/bench-worker.XXXXXX)"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_url() {
  for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$1 did not answer (logs in $work)"
}

port=$(free_port)
base="http://127.0.0.1:$port"
export DOCMERGE__DATABASE__URL="sqlite://$work/docmerge.db" DOCMERGE__STORAGE__ROOT="$work/data" \
  DOCMERGE__SERVER__BIND="127.0.0.1:$port" \
  DOCMERGE__PDF__LIBRARY_PATH="$runtime/lib/libpdfium.so" DOCMERGE__OCR__MODELS_DIR="$runtime/models" \
  DOCMERGE__AUTH__ADMIN_PASSWORD=bench-admin-1 DOCMERGE__LOG__LEVEL=warn

login() {
  curl -fs "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-admin-1"}' | jq -r .token
}

# Uploads $1, polls until ready/failed (at most $2 seconds); prints "state seconds id". The
# end is the document's own updated_at (when the server marked it settled, same clock), so
# the polling (every 0.25 s: curl and jq are processes, and polling faster takes CPU from the
# worker being measured) adds nothing to the time.
upload_and_wait() {
  local f="$1" limit="$2" t0 id doc state end
  t0=$(now)
  id=$(curl -fs -H "Authorization: Bearer $token" -F "file=@$f" "$base/api/v1/documents" | jq -r .document.id) \
    || die "upload of $f failed"
  while :; do
    doc=$(curl -fs -H "Authorization: Bearer $token" "$base/api/v1/documents/$id")
    state=$(jq -r .state <<<"$doc")
    [[ "$state" == ready || "$state" == failed ]] && break
    [[ $(echo "$(now) - $t0 > $limit" | bc -l) == 1 ]] && { state="timeout"; break; }
    sleep 0.25
  done
  end=$(now)
  [[ "$state" == timeout ]] || end=$(date -d "$(jq -r .updated_at <<<"$doc")" +%s.%N)
  printf '%s %.2f %s\n' "$state" "$(echo "$end - $t0" | bc -l)" "$id"
}

echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "1. upload -> ready, docmerge all (SQLite), one file at a time, $runs runs each"
"$binary" all >"$work/all.log" 2>&1 & pids+=($!)
wait_url "$base/readyz"
token=$(login)
printf '| %-30s | %-6s | %8s | %8s | %8s |\n' file state "best s" "median s" "worst s"
printf '|%s|%s|%s|%s|%s|\n' "--------------------------------" "--------" "---------:" "---------:" "---------:"
for f in "${files[@]}"; do
  times=()
  st=""
  for _ in $(seq 1 "$runs"); do
    read -r st t _ < <(upload_and_wait "$f" 120)
    times+=("$t")
  done
  mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
  printf '| %-30s | %-6s | %8s | %8s | %8s |\n' "$(basename "$f")" "$st" "${sorted[0]}" "${sorted[$(( runs / 2 ))]}" "${sorted[$(( runs - 1 ))]}"
done
kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; pids=()

echo
echo "2. a worker process (serve and worker separate) on bad-2000-pages.pdf (2,000 born-digital pages):"
echo "   at the default limits.max_pages (refused) and with limits.max_pages = 5000 (every page read)"
printf '| %-16s | %-6s | %9s | %8s | %14s | %-50s |\n' "limits.max_pages" state seconds "pages/s" "worker peak MB" "reason"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------" "--------" "----------:" "---------:" "---------------:" "----------------------------------------------------"
for max_pages in default 5000; do
  kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; pids=()
  rm -rf "$work/data" "$work"/docmerge.db*
  if [[ "$max_pages" == default ]]; then unset DOCMERGE__LIMITS__MAX_PAGES; else export DOCMERGE__LIMITS__MAX_PAGES="$max_pages"; fi
  "$binary" serve >"$work/serve.log" 2>&1 & pids+=($!)
  wait_url "$base/readyz"
  token=$(login)
  "$binary" worker >"$work/worker.log" 2>&1 & wpid=$!; pids+=($wpid)
  read -r st t id < <(upload_and_wait "$corpus/bad-2000-pages.pdf" 1200)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
  doc=$(curl -fs -H "Authorization: Bearer $token" "$base/api/v1/documents/$id")
  error=$(jq -r '.error // ""' <<<"$doc")
  pages=$(jq -r '.page_count // 0' <<<"$doc")
  rate="-"; [[ "$st" == ready && "$pages" -gt 0 ]] && rate=$(printf '%.1f' "$(echo "$pages / $t" | bc -l)")
  printf '| %-16s | %-6s | %9s | %8s | %14.1f | %-50s |\n' "$max_pages" "$st" "$t" "$rate" "$(echo "$hwm / 1024" | bc -l)" "${error:0:50}"
done
