#!/usr/bin/env bash
# Throughput of the multi-process topology (PostgreSQL, 2 × serve, 1 × ws, N × worker, behind
# nginx with the shipped packaging/nginx/docmerge.conf) for N = 1, 2, 4 workers.
#
# Each run: a fresh PostgreSQL database and storage root; DOCS single-page OCR documents (the
# corpus' img-*, io-* and scan-* files, cycled) are uploaded through nginx while no worker runs;
# then N workers start and the clock runs until every document is `ready`. Prints a table.
#
# With --file PATH the DOCS uploads are that one file (e.g. a 40-page image-only PDF: per-page
# fan-out spreads its pages over the workers).
#
# With --cpus-per-worker X (root; a cgroup cpu controller) every worker process runs in its own
# cgroup limited to X cores, as if each were a host of its own with X cores: on a machine with
# fewer cores than workers this shows how the work spreads when workers bring their own CPU
# (e.g. X = 0.5 for 4 workers on 2 cores). serve, ws, nginx and PostgreSQL stay unlimited.
#
# usage: packaging/bench-topology.sh [--binary PATH] [--docs N] [--file PATH] [--workers "1 2 4"] [--concurrency C]
#                                    [--cpus-per-worker X]
# env:   DOCMERGE_TEST_CORPUS (the corpus folder), DOCMERGE_RUNTIME_DIR (lib/ + models/),
#        DOCMERGE_TEST_PG (admin URL, default postgres://root@127.0.0.1:5432/postgres)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$repo/target/release/docmerge"
docs=30
workers_list="1 2 4"
concurrency=1
one_file=""
cpus_per_worker=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --docs) docs="$2"; shift 2 ;;
    --workers) workers_list="$2"; shift 2 ;;
    --file) one_file="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --cpus-per-worker) cpus_per_worker="$2"; shift 2 ;;
    *) echo "bench-topology: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "bench-topology: $*" >&2; exit 1; }
[[ -x "$binary" ]] || die "no docmerge binary at $binary (cargo build --release, or --binary PATH)"
[[ -x /usr/sbin/nginx ]] || die "/usr/sbin/nginx is missing (apt-get install nginx-light)"
corpus="${DOCMERGE_TEST_CORPUS:?set DOCMERGE_TEST_CORPUS to the corpus folder}"
runtime="${DOCMERGE_RUNTIME_DIR:-$repo/.runtime}"
[[ -f "$runtime/lib/libpdfium.so" ]] || die "no runtime files in $runtime (scripts/fetch-runtime.sh)"
pg_admin="${DOCMERGE_TEST_PG:-postgres://root@127.0.0.1:5432/postgres}"
pg_base="${pg_admin%/*}"
command -v jq >/dev/null || die "jq is needed"

if [[ -n "$one_file" ]]; then
  [[ -f "$one_file" ]] || die "no file $one_file"
  files=("$one_file")
else
  mapfile -t files < <(ls "$corpus"/img-*.png "$corpus"/io-*.pdf "$corpus"/scan-*.{png,jpg,pdf} 2>/dev/null | sort)
  [[ ${#files[@]} -gt 0 ]] || die "no img-/io-/scan- files in $corpus"
fi

# Per-worker CPU limits: cgroup v1 (cpu.cfs_quota_us) or v2 (cpu.max).
cg_dirs=()
if [[ -n "$cpus_per_worker" ]]; then
  quota=$(echo "$cpus_per_worker * 100000 / 1" | bc)
  [[ "$quota" -ge 1000 ]] || die "--cpus-per-worker $cpus_per_worker is too small"
  if [[ -w /sys/fs/cgroup/cpu/cpu.cfs_quota_us || -w /sys/fs/cgroup/cpu ]]; then
    cg_root=/sys/fs/cgroup/cpu
    cg_limit() { echo 100000 > "$1/cpu.cfs_period_us"; echo "$quota" > "$1/cpu.cfs_quota_us"; }
  elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    cg_root=/sys/fs/cgroup
    cg_limit() { echo "$quota 100000" > "$1/cpu.max"; }
  else
    die "--cpus-per-worker needs a writable cgroup cpu controller (run as root)"
  fi
fi
start_worker() { # worker number, log file
  if [[ -n "$cpus_per_worker" ]]; then
    local cg="$cg_root/docmerge-bench-$$-$1"
    mkdir -p "$cg" && cg_limit "$cg"
    cg_dirs+=("$cg")
    # The subshell joins the cgroup before it becomes the worker: every thread is limited.
    (echo "$BASHPID" > "$cg/cgroup.procs"; DOCMERGE_WORKER_ID="bench-worker-$1" exec "$binary" worker) >"$2" 2>&1 &
  else
    DOCMERGE_WORKER_ID="bench-worker-$1" "$binary" worker >"$2" 2>&1 &
  fi
  pids+=($!)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup_run() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  for cg in "${cg_dirs[@]}"; do rmdir "$cg" 2>/dev/null || true; done
  cg_dirs=()
  [[ -n "${db:-}" ]] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup_run EXIT

wait_url() {
  for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$1 did not answer (logs in $work)"
}

# The shipped site with this run's ports; refuses a file whose shape changed (as the test does).
nginx_site() {
  local conf="$repo/packaging/nginx/docmerge.conf"
  for line in 'server 127.0.0.1:8000;' 'server 127.0.0.1:8001;' 'listen 80;' 'listen [::]:80;'; do
    [[ "$(grep -cxF "    $line" "$conf")" == 1 ]] || die "packaging/nginx/docmerge.conf changed shape: no single line '$line'"
  done
  sed -e "s|^    server 127.0.0.1:8000;|    server 127.0.0.1:$1;\n    server 127.0.0.1:$2;|" \
      -e "s|^    server 127.0.0.1:8001;|    server 127.0.0.1:$3;|" \
      -e "s|^    listen 80;|    listen 127.0.0.1:$4;|" \
      -e "/^    listen \[::\]:80;/d" "$conf"
}

run_once() {
  local n="$1"
  work="$(mktemp -d /tmp/bench-topology.XXXXXX)"
  db="dm_bench_topo_$$_$n"
  psql "$pg_admin" -qc "CREATE DATABASE $db" >/dev/null
  local s1 s2 wsp ngp
  s1=$(free_port); s2=$(free_port); wsp=$(free_port); ngp=$(free_port)
  printf '[server]\ntrusted_proxies = ["127.0.0.1"]\n' > "$work/docmerge.toml"
  export DOCMERGE_CONFIG="$work/docmerge.toml" \
    DOCMERGE__DATABASE__URL="$pg_base/$db" DOCMERGE__STORAGE__ROOT="$work/data" \
    DOCMERGE__PDF__LIBRARY_PATH="$runtime/lib/libpdfium.so" DOCMERGE__OCR__MODELS_DIR="$runtime/models" \
    DOCMERGE__AUTH__ADMIN_PASSWORD=bench-admin-1 DOCMERGE__WORKER__POLL_MS=100 \
    DOCMERGE__WORKER__CONCURRENCY="$concurrency" DOCMERGE__LOG__LEVEL=warn
  DOCMERGE__SERVER__BIND="127.0.0.1:$s1" "$binary" serve >"$work/serve-a.log" 2>&1 & pids+=($!)
  wait_url "http://127.0.0.1:$s1/readyz"
  DOCMERGE__SERVER__BIND="127.0.0.1:$s2" "$binary" serve >"$work/serve-b.log" 2>&1 & pids+=($!)
  DOCMERGE__WS__BIND="127.0.0.1:$wsp" "$binary" ws >"$work/ws.log" 2>&1 & pids+=($!)
  wait_url "http://127.0.0.1:$s2/readyz"

  mkdir -p "$work/nginx/logs"
  nginx_site "$s1" "$s2" "$wsp" "$ngp" > "$work/nginx/docmerge.conf"
  local user=""; [[ "$(id -u)" == 0 ]] && user="user root root;"
  cat > "$work/nginx/nginx.conf" <<EOF
$user
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  include $work/nginx/docmerge.conf;
}
EOF
  /usr/sbin/nginx -p "$work/nginx/" -e logs/error.log -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/out.log" 2>&1 & pids+=($!)
  local base="http://127.0.0.1:$ngp"
  wait_url "$base/readyz"

  local token
  token=$(curl -fs "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-admin-1"}' | jq -r .token)
  for i in $(seq 0 $((docs - 1))); do
    local f="${files[$((i % ${#files[@]}))]}"
    curl -fs -o /dev/null -H "Authorization: Bearer $token" -F "file=@$f" -F "title=bench $i $(basename "$f")" "$base/api/v1/documents" \
      || die "upload of $f through nginx failed"
  done

  local t0 t1
  t0=$(date +%s.%N)
  for w in $(seq 1 "$n"); do
    start_worker "$w" "$work/worker-$w.log"
  done
  while :; do
    local ready
    ready=$(psql "$pg_base/$db" -Atc "SELECT count(*) FROM documents WHERE state = 'ready'")
    local failed
    failed=$(psql "$pg_base/$db" -Atc "SELECT count(*) FROM documents WHERE state = 'failed'")
    [[ "$failed" == 0 ]] || die "$failed documents failed (logs in $work)"
    [[ "$ready" == "$docs" ]] && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  local pages
  pages=$(psql "$pg_base/$db" -Atc "SELECT count(*) FROM pages")
  local secs
  secs=$(echo "$t1 - $t0" | bc -l)
  printf '| %7s | %11s | %5s | %5s | %8.1f | %9.1f |\n' "$n" "$concurrency" "$docs" "$pages" "$secs" "$(echo "$docs * 60 / $secs" | bc -l)"
  cleanup_run
  rm -rf "$work"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)${cpus_per_worker:+, each worker limited to $cpus_per_worker cores}"
echo "| workers | jobs/worker | docs | pages | seconds | docs/min |"
echo "|--------:|------------:|-----:|------:|--------:|---------:|"
for n in $workers_list; do
  run_once "$n"
done
