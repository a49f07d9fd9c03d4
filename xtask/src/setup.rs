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
    if let Some(path) = find_chromium() {
        return Ok(path);
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        bail!(
            "the browser tests need Chromium: install Debian's `chromium` package \
             (sudo apt-get install chromium fonts-dejavu-core), or set STEMROOM_CHROMIUM to a Chromium binary"
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
            "chromium",
            "fonts-dejavu-core",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find_chromium().context("apt-get installed chromium, but /usr/bin/chromium is not there")
}

fn find_chromium() -> Option<PathBuf> {
    std::env::var_os("STEMROOM_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.is_file())
}
