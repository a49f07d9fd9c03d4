//! Builds the browser app into `target/site`.
//!
//! Two builds of `app/` with the pinned nightly:
//! - **threads**: `+atomics` with `-Z build-std`, linked with an imported
//!   shared memory, for cross-origin isolated pages;
//! - **fallback**: a plain module for pages without `SharedArrayBuffer`.
//!
//! Each goes through wasm-bindgen (as a library, pinned to the crate's exact
//! version) and wasm-opt (npm `binaryen`). Output is placed under a
//! content-hashed `pkg/<hash>/` so the server can cache it forever.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::setup::{self, NIGHTLY};
use crate::util::{FNV_OFFSET, copy_dir, fnv1a, run};

/// Maximum wasm memory of the threaded build (shared memories must declare one).
const MAX_MEMORY_BYTES: u64 = 2 << 30;

/// Bump to force bindgen and wasm-opt to rerun when this file changes how.
const PIPELINE_VERSION: &[u8] = b"2";

/// Bump when `pkg/<hash>/` gains or changes files the inputs do not show
/// (version 2: the `.gz` beside each script and module).
const PKG_LAYOUT_VERSION: &[u8] = b"2";

struct Variant {
    threads: bool,
    out_name: &'static str,
    target_dir: &'static str,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        threads: true,
        out_name: "stemroom_app",
        target_dir: "target/wasm/threads",
    },
    Variant {
        threads: false,
        out_name: "stemroom_app_fallback",
        target_dir: "target/wasm/fallback",
    },
];

impl Variant {
    fn rustflags(&self) -> Vec<String> {
        // Leptos components return type-erased views: one copy of the
        // rendering code instead of one per component's concrete view type
        // (−15% of the module before wasm-opt, −2.5% after).
        let erase = ["--cfg".to_string(), "erase_components".to_string()];
        if !self.threads {
            let mut flags = vec!["-Ctarget-feature=+simd128".to_string()];
            flags.extend(erase);
            return flags;
        }
        let mut flags =
            vec!["-Ctarget-feature=+atomics,+bulk-memory,+mutable-globals,+simd128".to_string()];
        flags.extend(erase);
        for arg in [
            "--shared-memory".to_string(),
            format!("--max-memory={MAX_MEMORY_BYTES}"),
            "--import-memory".into(),
            "--export=__wasm_init_tls".into(),
            "--export=__tls_size".into(),
            "--export=__tls_align".into(),
            "--export=__tls_base".into(),
        ] {
            flags.push(format!("-Clink-arg={arg}"));
        }
        flags
    }

    /// `cargo <subcommand>` for this variant with the pinned nightly.
    fn cargo(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new("rustup");
        cmd.args(["run", NIGHTLY, "cargo", subcommand])
            .args([
                "--package",
                "stemroom-app",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .args(["--target-dir", self.target_dir]);
        if self.threads {
            cmd.args(["--features", "threads", "-Z", "build-std=panic_abort,std"]);
        }
        // A separate target dir per variant: different flags and std would
        // otherwise evict each other's artifacts on every build.
        cmd.env("CARGO_ENCODED_RUSTFLAGS", self.rustflags().join("\x1f"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO");
        cmd
    }
}

/// A built module and its sizes.
pub struct ModuleSize {
    pub file_name: String,
    pub raw_bytes: u64,
    pub gzip_bytes: u64,
}

pub struct Site {
    pub dir: PathBuf,
    pub hash: String,
    pub modules: Vec<ModuleSize>,
}

pub struct SiteBuild {
    root: PathBuf,
}

impl SiteBuild {
    pub fn new(root: &Path) -> Self {
        SiteBuild {
            root: root.to_path_buf(),
        }
    }

    pub fn build(&self) -> Result<Site> {
        setup::ensure_nightly()?;
        setup::ensure_npm(&self.root)?;
        let mut outputs = Vec::new();
        for variant in &VARIANTS {
            let mut cargo = variant.cargo("build");
            cargo.args(["--profile", "wasm"]).current_dir(&self.root);
            run(&mut cargo)?;
            let wasm = self
                .root
                .join(variant.target_dir)
                .join("wasm32-unknown-unknown/wasm/stemroom_app.wasm");
            outputs.push(self.bindgen(variant, &wasm)?);
        }
        self.assemble(&outputs)
    }

    /// wasm-bindgen then wasm-opt, skipped when the input has not changed.
    fn bindgen(&self, variant: &Variant, wasm: &Path) -> Result<PathBuf> {
        let out = self.root.join("target/wasm/out").join(variant.out_name);
        let input =
            std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
        let stamp = format!(
            "{:016x}",
            fnv1a(fnv1a(FNV_OFFSET, PIPELINE_VERSION), &input)
        );
        let stamp_file = out.join(".input-hash");
        if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
            return Ok(out);
        }
        if out.exists() {
            std::fs::remove_dir_all(&out)?;
        }
        eprintln!("+ wasm-bindgen {} -> {}", wasm.display(), out.display());
        wasm_bindgen_cli_support::Bindgen::new()
            .input_bytes(variant.out_name, input)
            .out_name(variant.out_name)
            .web(true)?
            // The library's default differs from the CLI's: without this a plain
            // `init()` has no module URL to fetch.
            .omit_default_module_path(false)
            .typescript(false)
            .remove_producers_section(true)
            .generate(&out)
            .with_context(|| format!("wasm-bindgen failed on {}", wasm.display()))?;
        if std::env::var_os("STEMROOM_NO_WASM_OPT").is_none() {
            let module = out.join(format!("{}_bg.wasm", variant.out_name));
            run(Command::new(self.root.join("node_modules/.bin/wasm-opt"))
                .arg(&module)
                .arg("-o")
                .arg(&module)
                .args([
                    "-Oz",
                    "--enable-bulk-memory",
                    "--enable-bulk-memory-opt",
                    "--enable-mutable-globals",
                ])
                .args([
                    "--enable-sign-ext",
                    "--enable-nontrapping-float-to-int",
                    "--enable-simd",
                ])
                .args([
                    "--enable-reference-types",
                    "--enable-multivalue",
                    "--enable-call-indirect-overlong",
                ])
                .args(variant.threads.then_some("--enable-threads")))?;
        }
        std::fs::write(stamp_file, stamp)?;
        Ok(out)
    }

    /// Lays out `target/site`: `index.html`, CSS, and `pkg/<hash>/` holding
    /// both builds and the worklet entry points.
    fn assemble(&self, outputs: &[PathBuf]) -> Result<Site> {
        let static_dir = self.root.join("static");
        let worklet_dir = static_dir.join("worklet");
        let mut files = Vec::new();
        for dir in outputs.iter().chain([&worklet_dir]) {
            collect_files(dir, &mut files)?;
        }
        files.sort();
        let mut hash = fnv1a(FNV_OFFSET, PKG_LAYOUT_VERSION);
        for file in &files {
            hash = fnv1a(
                hash,
                file.file_name().unwrap_or_default().as_encoded_bytes(),
            );
            hash = fnv1a(hash, &std::fs::read(file)?);
        }
        let hash = format!("{hash:016x}");

        let site = self.root.join("target/site");
        let pkg_root = site.join("pkg");
        let pkg = pkg_root.join(&hash);
        if !pkg.is_dir() {
            let staging = pkg_root.join(format!(".{hash}.tmp"));
            let _ = std::fs::remove_dir_all(&staging);
            for dir in outputs.iter().chain([&worklet_dir]) {
                copy_dir(dir, &staging)?;
            }
            let _ = std::fs::remove_file(staging.join(".input-hash"));
            precompress(&staging)?;
            std::fs::rename(&staging, &pkg)?;
        }
        for entry in std::fs::read_dir(&pkg_root)? {
            let entry = entry?;
            if entry.file_name() != hash.as_str() {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        for entry in std::fs::read_dir(&static_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if entry.file_type()?.is_file() && name != "index.html" {
                std::fs::copy(entry.path(), site.join(&name))?;
            }
        }
        let index = std::fs::read_to_string(static_dir.join("index.html"))?;
        std::fs::write(site.join("index.html"), index.replace("@PKG_HASH@", &hash))?;

        let modules = VARIANTS
            .iter()
            .map(|v| module_size(&pkg.join(format!("{}_bg.wasm", v.out_name))))
            .collect::<Result<_>>()?;
        Ok(Site {
            dir: site,
            hash,
            modules,
        })
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.file_name().is_some_and(|n| n != ".input-hash") {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes `NAME.gz` (gzip -9) beside every script and module in `dir`:
/// the server sends these as they are (`ServeDir::precompressed_gzip`), so
/// no request compresses 2.6 MiB of wasm again (a debug server took about
/// a second per module on these machines).
fn precompress(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    for file in files {
        if matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("js" | "wasm")
        ) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&std::fs::read(&file)?)?;
            let mut name = file.clone().into_os_string();
            name.push(".gz");
            std::fs::write(name, gz.finish()?)?;
        }
    }
    Ok(())
}

fn module_size(path: &Path) -> Result<ModuleSize> {
    let mut gz = path.to_path_buf().into_os_string();
    gz.push(".gz");
    Ok(ModuleSize {
        file_name: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        raw_bytes: std::fs::metadata(path)?.len(),
        gzip_bytes: std::fs::metadata(&gz)
            .with_context(|| format!("{} was not precompressed", path.display()))?
            .len(),
    })
}

/// Clippy on the browser app as the threaded build compiles it.
pub fn clippy_wasm(root: &Path) -> Result<()> {
    setup::ensure_nightly()?;
    let mut cargo = VARIANTS[0].cargo("clippy");
    cargo
        .args(["--profile", "wasm", "--", "-D", "warnings"])
        .current_dir(root);
    run(&mut cargo)
}
