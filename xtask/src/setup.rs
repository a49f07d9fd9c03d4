//! Installs what the build and the tests need, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::run;

/// The nightly that builds wasm with threads (`-Z build-std`); see DESIGN.md §6.
pub const NIGHTLY: &str = "nightly-2026-05-20";

/// Installs the pinned nightly with rust-src, clippy and the wasm target if needed.
/// These machines set `RUSTUP_AUTO_INSTALL=0`: nothing installs it implicitly.
pub fn ensure_nightly() -> Result<()> {
    let sysroot = Command::new("rustup")
        .args(["run", NIGHTLY, "rustc", "--print", "sysroot"])
        .output()
        .context("rustup is needed (https://rustup.rs)")?;
    let ready = sysroot.status.success() && {
        let root = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
        root.join("lib/rustlib/wasm32-unknown-unknown").is_dir()
            && root.join("lib/rustlib/src/rust/library").is_dir()
            && root.join("bin/cargo-clippy").is_file()
    };
    if !ready {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            NIGHTLY,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
            "--component",
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "--no-self-update",
        ]))?;
    }
    Ok(())
}

/// Adds rustfmt and clippy to the workspace's toolchain when they are missing.
pub fn ensure_lint_tools() -> Result<()> {
    let present = |tool: &str| {
        crate::util::cargo()
            .args([tool, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !present("fmt") || !present("clippy") {
        run(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))?;
    }
    Ok(())
}

/// Installs the npm tools (binaryen, playwright-core) pinned in package-lock.json.
pub fn ensure_npm(root: &Path) -> Result<()> {
    let lock =
        std::fs::read(root.join("package-lock.json")).context("package-lock.json is missing")?;
    let stamp = root.join("node_modules/.stemroom-lock");
    if std::fs::read(&stamp).ok().as_deref() == Some(&lock[..])
        && root.join("node_modules/.bin/wasm-opt").exists()
    {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(root))
    .context("npm (Node.js) is needed to install the build tools")?;
    std::fs::write(stamp, lock)?;
    Ok(())
}

/// Finds Chromium for the browser tests, installing Debian's package when we
/// run as root; otherwise says exactly what to install.
pub fn ensure_chromium() -> Result<PathBuf> {
    ensure_browser(
        "chromium",
        "STEMROOM_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    )
}

/// Debian's Firefox ESR, which the browser tests drive over WebDriver BiDi.
pub fn ensure_firefox() -> Result<PathBuf> {
    ensure_browser(
        "firefox-esr",
        "STEMROOM_FIREFOX",
        &["/usr/bin/firefox-esr", "/usr/bin/firefox"],
    )
}

/// The browser at `$variable` or one of `paths`, installed from Debian's
/// `package` (with a font) when missing and this is root.
fn ensure_browser(package: &str, variable: &str, paths: &[&str]) -> Result<PathBuf> {
    let find = || {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .into_iter()
            .chain(paths.iter().map(PathBuf::from))
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        bail!(
            "the browser tests need {package}: install Debian's `{package}` package \
             (sudo apt-get install {package} fonts-dejavu-core), or set {variable} to its binary"
        );
    }
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            package,
            "fonts-dejavu-core",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find().with_context(|| {
        format!(
            "apt-get installed {package}, but it is not at {}",
            paths.join(" or ")
        )
    })
}
