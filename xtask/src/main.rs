//! `cargo xtask`: Stemroom's build, run, test and bench driver.
//!
//! Everything a fresh machine needs (the pinned nightly for wasm threads, npm
//! tools, Chromium for the browser tests) is installed from here, so the
//! README's two commands are the whole setup.

mod setup;
mod site;
mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::site::SiteBuild;
use crate::util::{human_bytes, run};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and bench Stemroom")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the app and the server, then serve on 127.0.0.1:8080.
    Run {
        /// Optimised server build.
        #[arg(long)]
        release: bool,
        /// Further arguments for `stemroom serve` (e.g. -- --addr 0.0.0.0:9000).
        #[arg(last = true)]
        serve_args: Vec<String>,
    },
    /// Build the app (target/site) and the server without starting it.
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Run every test: formatting, lints, native tests, browser tests.
    Test {
        /// Skip rustfmt and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Skip the headless Chromium tests.
        #[arg(long)]
        no_browser: bool,
    },
    /// Print performance figures (see docs/BENCHMARKS.md).
    Bench,
}

fn main() -> std::process::ExitCode {
    match xtask() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn xtask() -> Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Task::Run {
            release,
            serve_args,
        } => {
            let site = SiteBuild::new(&root).build()?;
            let server = build_server(&root, release)?;
            println!("app built in {} ({})", site.dir.display(), site.hash);
            serve(&server, &site.dir, &serve_args)
        }
        Task::Build { release } => {
            let site = SiteBuild::new(&root).build()?;
            let server = build_server(&root, release)?;
            println!("app: {}  server: {}", site.dir.display(), server.display());
            Ok(())
        }
        Task::Test {
            no_lint,
            no_browser,
        } => test(&root, !no_lint, !no_browser),
        Task::Bench => bench(&root),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Builds the `stemroom` binary with the stable toolchain; returns its path.
fn build_server(root: &Path, release: bool) -> Result<PathBuf> {
    let mut cargo = util::cargo();
    cargo.args(["build", "--package", "stemroom-server", "--bin", "stemroom"]);
    if release {
        cargo.arg("--release");
    }
    run(&mut cargo)?;
    let profile = if release { "release" } else { "debug" };
    Ok(root.join("target").join(profile).join("stemroom"))
}

/// Replaces this process with `stemroom serve`, so Ctrl+C reaches the server.
fn serve(server: &Path, site_dir: &Path, extra: &[String]) -> Result<()> {
    let mut cmd = Command::new(server);
    cmd.arg("serve").arg("--site-dir").arg(site_dir).args(extra);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).with_context(|| format!("cannot start {}", server.display()))
    }
    #[cfg(not(unix))]
    {
        run(&mut cmd)
    }
}

fn test(root: &Path, lint: bool, browser: bool) -> Result<()> {
    let started = Instant::now();
    if lint {
        setup::ensure_lint_tools()?;
        util::step("rustfmt");
        run(util::cargo().args(["fmt", "--all", "--", "--check"]))?;
        util::step("clippy (native)");
        run(util::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        util::step("clippy (wasm app)");
        site::clippy_wasm(root)?;
    }
    util::step("native tests");
    run(util::cargo().args(["test", "--workspace"]))?;
    if browser {
        util::step("browser tests");
        let site = SiteBuild::new(root).build()?;
        let server = build_server(root, false)?;
        let chromium = setup::ensure_chromium()?;
        let firefox = setup::ensure_firefox()?;
        let artifacts = root.join("target/test-artifacts");
        std::fs::create_dir_all(&artifacts)?;
        // The native half of the null test: the same project the browser renders.
        let native = artifacts.join("workload-native.wav");
        run(util::cargo()
            .args([
                "run",
                "--quiet",
                "--package",
                "stemroom-engine",
                "--example",
                "render_workload",
                "--",
            ])
            .args(["8", "2"])
            .arg(&native))?;
        let tests: Vec<PathBuf> = std::fs::read_dir(root.join("tests/browser"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
            .collect();
        let node = |files: &[PathBuf]| {
            let mut cmd = Command::new("node");
            cmd.arg("--test")
                .arg("--test-concurrency=1")
                .args(files)
                .env("STEMROOM_BIN", &server)
                .env("STEMROOM_SITE_DIR", &site.dir)
                .env("STEMROOM_CHROMIUM", &chromium)
                .env("STEMROOM_FIREFOX", &firefox)
                .env("STEMROOM_ARTIFACTS", &artifacts)
                .env("STEMROOM_NATIVE_WORKLOAD", &native);
            cmd
        };
        // The ten-minute take runs in real time, alongside the rest (its
        // report is printed after theirs).
        let long_log = artifacts.join("long-take.log");
        let log = std::fs::File::create(&long_log)?;
        let mut long = node(&[root.join("tests/browser/long-take.mjs")])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start the long-take test")?;
        let suite = run(&mut node(&tests));
        if suite.is_err() {
            let _ = long.kill();
        }
        let long_status = long.wait()?;
        util::step("browser test alongside: a ten-minute take");
        print!("{}", std::fs::read_to_string(&long_log).unwrap_or_default());
        suite?;
        anyhow::ensure!(
            long_status.success(),
            "the long-take test failed ({long_status})"
        );
        println!("screenshots and logs: {}", artifacts.display());
    }
    println!(
        "all tests passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench(root: &Path) -> Result<()> {
    util::step("engine (native)");
    run(util::cargo().args(["bench", "--package", "stemroom-engine", "--bench", "engine"]))?;
    util::step("export memory (native, a process of its own)");
    run(util::cargo().args([
        "bench",
        "--package",
        "stemroom-engine",
        "--bench",
        "export_memory",
    ]))?;
    util::step("sync server (release binary, real WebSocket clients)");
    run(util::cargo().args(["bench", "--package", "stemroom-server", "--bench", "sync"]))?;
    util::step("app build");
    let builder = SiteBuild::new(root);
    let site = builder.build()?;
    let started = Instant::now();
    builder.build()?;
    let rebuild = started.elapsed();
    util::step("engine in the browser vs Chromium's native nodes");
    let server = build_server(root, false)?;
    let chromium = setup::ensure_chromium()?;
    let browser_bench = |script: &str| {
        run(Command::new("node")
            .arg(root.join("tests/browser").join(script))
            .env("STEMROOM_BIN", &server)
            .env("STEMROOM_SITE_DIR", &site.dir)
            .env("STEMROOM_CHROMIUM", &chromium)
            .env("STEMROOM_ARTIFACTS", root.join("target/test-artifacts")))
    };
    browser_bench("bench.mjs")?;
    util::step("recording: the worklet's cost and the upload keeping up");
    browser_bench("record-bench.mjs")?;
    util::step("workspace: first load and frame times at 64 tracks × 50 clips");
    browser_bench("workspace-bench.mjs")?;
    println!();
    println!("== wasm modules (after wasm-opt) ==");
    println!("{:<28} {:>12} {:>12}", "module", "raw", "gzip -9");
    for module in &site.modules {
        println!(
            "{:<28} {:>12} {:>12}",
            module.file_name,
            human_bytes(module.raw_bytes),
            human_bytes(module.gzip_bytes)
        );
    }
    println!();
    println!("== build ==");
    println!(
        "no-change rebuild of the app: {:.2} s",
        rebuild.as_secs_f64()
    );
    println!("(clean build time: run `rm -rf target && time cargo xtask build`)");
    Ok(())
}
