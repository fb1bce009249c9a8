#!/usr/bin/env bash
# The downloadable artifact: one self-contained `docmerge` binary for x86-64 Linux with the PDF
# library and the OCR models inside (the default `embed-runtime` feature), packed with its
# checksum. Copy the binary anywhere and run `docmerge all`: nothing else to install.
#
#   packaging/build-release.sh                 # fetch runtime files, release build, pack, smoke test
#   packaging/build-release.sh --binary PATH   # pack an existing embed-runtime build instead
#   packaging/build-release.sh --out-dir DIR   # default target/dist
#
# Why not a static musl binary: libpdfium is a glibc shared library that docmerge loads at run
# time (pdfium-render binds it with dlopen), and a statically linked musl program cannot dlopen a
# glibc library. So the binary links only the C library, libm and libgcc_s dynamically — present
# on every glibc Linux — and carries everything else; the script fails if it needs anything more,
# and prints the oldest glibc it runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out_dir="target/dist"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-release: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "build-release: $*" >&2; }
die() { say "$*"; exit 1; }

if [[ -z "$binary" ]]; then
  bash scripts/fetch-runtime.sh .runtime
  say "release build (about 10 minutes on 2 cores from clean)"
  cargo build --release --locked
  binary="target/release/docmerge"
fi
[[ -x "$binary" ]] || die "no binary at $binary"

# Self-contained: only the C runtime may be linked dynamically.
allowed='^(linux-vdso\.so|libc\.so|libm\.so|libgcc_s\.so|ld-linux-x86-64\.so|libpthread\.so|libdl\.so|librt\.so)'
extra="$(ldd "$binary" | awk '{print $1}' | sed 's|.*/||' | grep -Ev "$allowed" || true)"
[[ -z "$extra" ]] || die "the binary needs shared libraries beyond the C runtime: $extra"
"$binary" --version | grep -q "embedded in this binary" || die "$binary was built without the embedded runtime files (build without --no-default-features)"

version="$("$binary" --version | head -n1 | awk '{print $2}')"
glibc_min="$( { objdump -T "$binary"; [[ -f .runtime/lib/libpdfium.so ]] && objdump -T .runtime/lib/libpdfium.so; } 2>/dev/null \
  | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1 || true)"
name="docmerge-${version}-x86_64-linux-gnu"
stage="$out_dir/$name"
rm -rf "$stage" && mkdir -p "$stage"
cp "$binary" "$stage/docmerge"
strip --strip-debug "$stage/docmerge" 2>/dev/null || true
cat > "$stage/README.txt" <<EOF
docmerge $version — a self-hosted document management system in one file.

  ./docmerge all          # SQLite and files in ./docmerge-data; open http://127.0.0.1:8000
  ./docmerge --help       # the roles (serve, worker, ws), users, check, export/import
  ./docmerge check        # settings, database, storage and where the runtime files come from

The PDF library (pdfium) and the OCR models are inside the binary; at the first start they are
unpacked (and checked against their sha256) into <storage root>/runtime. Their licences are
unpacked beside them. Runs on x86-64 Linux with glibc ${glibc_min:-2.31} or newer.
EOF

# Smoke test: the copy alone, in an empty directory, knows what it is and finds its runtime files.
smoke="$(mktemp -d)"
trap 'rm -rf "$smoke"' EXIT
cp "$stage/docmerge" "$smoke/"
(cd "$smoke" && env -u DOCMERGE_RUNTIME_DIR DOCMERGE__STORAGE__ROOT="$smoke/data" ./docmerge check > check.txt 2>&1) || true
grep -q "OK   PDF library and OCR models load" "$smoke/check.txt" || { cat "$smoke/check.txt" >&2; die "the packed binary does not load its own runtime files"; }

tar -C "$out_dir" -czf "$out_dir/$name.tar.gz" "$name"
(cd "$out_dir" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
say "size: binary $(du -h "$stage/docmerge" | cut -f1), archive $(du -h "$out_dir/$name.tar.gz" | cut -f1); needs glibc ${glibc_min:-unknown}"
echo "$out_dir/$name.tar.gz"
