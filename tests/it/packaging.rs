//! The Debian package, end to end, with the binary under test: packaging/test-packaging.sh
//! checks the units (`systemd-analyze verify`) and the nginx site (`nginx -t`), builds the .deb
//! with the pinned runtime files, installs it with `dpkg -i`, runs `docmerge --version` and
//! `docmerge check` from the installed paths as the `docmerge` user, removes it (state kept) and
//! purges it (state deleted). Needs root (CI runs as root) and no docmerge package installed.

use std::path::Path;
use std::process::Command;

#[test]
fn deb_builds_installs_removes_and_purges() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime = std::env::var("DOCMERGE_RUNTIME_DIR").unwrap_or_else(|_| repo.join(".runtime").display().to_string());
    assert!(
        Path::new(&runtime).join("lib/libpdfium.so").is_file(),
        "no runtime files in {runtime}: run scripts/fetch-runtime.sh .runtime (scripts/test.sh does)"
    );
    let out = Command::new("bash")
        .arg(repo.join("packaging/test-packaging.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_docmerge"), "--runtime-dir", &runtime])
        .output()
        .expect("run packaging/test-packaging.sh");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "packaging checks failed:\n{log}");
    assert!(log.contains("all checks passed"), "{log}");
    // A check whose tool is missing says SKIP: here that is a failure, not a pass.
    let skipped: Vec<&str> = log.lines().filter(|l| l.starts_with("SKIP")).collect();
    assert!(skipped.is_empty(), "packaging checks were skipped:\n{}", skipped.join("\n"));
    for must in ["PASS dpkg -r", "PASS removed: /var/lib/docmerge and its database kept", "PASS purged: /var/lib/docmerge deleted"] {
        assert!(log.contains(must), "missing `{must}` in:\n{log}");
    }
}
