#!/usr/bin/env bash
# The release artifact as a new user meets it (BENCHMARKS.md, "Single binary"): copies BINARY
# alone into an empty directory, times --version, the first start of `docmerge all` to /readyz
# (unpacks the embedded runtime files, new database) and the second, then upload → ready of a
# scan and of a born-digital PDF, each uploaded three times (the copies take over the result).
# Usage: scripts/bench-first-start.sh target/dist/docmerge-*/docmerge   (needs curl, jq, bc)
set -euo pipefail
B="$1"; P=18600
d=$(mktemp -d /tmp/fs.XXXX); cp "$B" "$d/docmerge"; cd "$d"
echo "binary: $(stat -c %s docmerge) bytes"
s=$(date +%s.%N); ./docmerge --version >/dev/null; echo "--version: $(echo "$(date +%s.%N) - $s" | bc) s"
start() {
  s=$(date +%s.%N)
  env -u DOCMERGE_RUNTIME_DIR DOCMERGE__SERVER__BIND=127.0.0.1:$P DOCMERGE__WS__BIND=127.0.0.1:$((P+1)) DOCMERGE__AUTH__ADMIN_PASSWORD=bench-admin-pw ./docmerge all >out.log 2>err.log &
  pid=$!
  until curl -fs 127.0.0.1:$P/readyz >/dev/null; do sleep 0.01; done
  echo "$1 start to /readyz: $(echo "$(date +%s.%N) - $s" | bc) s"
}
start first
kill $pid; wait $pid || true
start second
T=$(curl -s 127.0.0.1:$P/api/v1/auth/login -H 'content-type: application/json' -d '{"username":"admin","password":"bench-admin-pw"}' | jq -r .token)
up() {
  s=$(date +%s.%N)
  id=$(curl -s -H "Authorization: Bearer $T" -F file=@"$1" 127.0.0.1:$P/api/v1/documents | jq -r .document.id)
  until [ "$(curl -s -H "Authorization: Bearer $T" 127.0.0.1:$P/api/v1/documents/$id | jq -r .state)" = ready ]; do sleep 0.01; done
  echo "$2 $(basename "$1") upload → ready: $(echo "$(date +%s.%N) - $s" | bc) s"
}
corpus="${DOCMERGE_TEST_CORPUS:-$(cd "$(dirname "$0")/../../shared/corpus" && pwd)}"
for f in "$corpus/img-latex-blindtext.p1.png" "$corpus/bd-senate-expenditures.pdf"; do
  up "$f" first; up "$f" identical; up "$f" identical-again
done
echo "RSS after: $(grep VmRSS /proc/$pid/status)"
kill $pid; wait $pid || true
rm -rf "$d"
