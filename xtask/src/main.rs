//! `cargo xtask`: Stemroom's build, run, test and bench driver.
//!
//! Everything a fresh machine needs (the pinned nightly for wasm threads, npm
//! tools, Chromium for the browser tests) is installed from here, so the
//! README's two commands are the whole setup.

mod postgres;
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
    // The browser tests' app, server and browsers come first, so the
    // ten-minute take (real time cannot be hurried) runs alongside the
    // native tests and the other browser tests.
    let browser_tests = if browser {
        util::step("browser tests: building");
        Some(BrowserTests::prepare(root)?)
    } else {
        None
    };
    let long_take = browser_tests
        .as_ref()
        .map(BrowserTests::start_long_take)
        .transpose()?;
    util::step("native tests");
    run(util::cargo().args(["test", "--workspace"]))?;
    // The server's tests again, each server on a PostgreSQL database of
    // its own instead of SQLite (the storage in `--database`).
    util::step("server tests on PostgreSQL");
    let cluster = postgres::TestPostgres::start()?;
    run(util::cargo()
        .args(["test", "--package", "stemroom-server"])
        .env("STEMROOM_TEST_POSTGRES", &cluster.url)
        .env("STEMROOM_TEST_POSTGRES_RESTART", cluster.restart_command()))?;
    drop(cluster);
    if let (Some(tests), Some(long_take)) = (browser_tests, long_take) {
        util::step("browser tests");
        tests.run(long_take)?;
    }
    println!(
        "all tests passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The browser tests and what they run against.
struct BrowserTests {
    root: PathBuf,
    site_dir: PathBuf,
    server: PathBuf,
    chromium: PathBuf,
    firefox: PathBuf,
    artifacts: PathBuf,
    /// The native half of the null test: the same project the browser renders.
    native: PathBuf,
}

impl BrowserTests {
    fn prepare(root: &Path) -> Result<BrowserTests> {
        let site = SiteBuild::new(root).build()?;
        let server = build_server(root, false)?;
        let chromium = setup::ensure_chromium()?;
        let firefox = setup::ensure_firefox()?;
        let artifacts = root.join("target/test-artifacts");
        std::fs::create_dir_all(&artifacts)?;
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
        Ok(BrowserTests {
            root: root.to_path_buf(),
            site_dir: site.dir,
            server,
            chromium,
            firefox,
            artifacts,
            native,
        })
    }

    /// `node --test` on `files`, one at a time.
    fn node(&self, files: &[PathBuf]) -> Command {
        let mut cmd = Command::new("node");
        cmd.arg("--test")
            .arg("--test-concurrency=1")
            .args(files)
            .env("STEMROOM_BIN", &self.server)
            .env("STEMROOM_SITE_DIR", &self.site_dir)
            .env("STEMROOM_CHROMIUM", &self.chromium)
            .env("STEMROOM_FIREFOX", &self.firefox)
            .env("STEMROOM_ARTIFACTS", &self.artifacts)
            .env("STEMROOM_NATIVE_WORKLOAD", &self.native);
        cmd
    }

    fn long_take_log(&self) -> PathBuf {
        self.artifacts.join("long-take.log")
    }

    /// Starts the ten-minute take in the background (its report goes to a
    /// log, printed after the rest).
    fn start_long_take(&self) -> Result<Alongside> {
        let log = std::fs::File::create(self.long_take_log())?;
        let mut cmd = self.node(&[self.root.join("tests/browser/long-take.mjs")]);
        cmd.stdout(log.try_clone()?).stderr(log);
        Alongside::spawn(cmd).context("cannot start the long-take test")
    }

    /// Runs every `*.test.mjs`, then waits for the long take.
    fn run(self, long_take: Alongside) -> Result<()> {
        let tests: Vec<PathBuf> = std::fs::read_dir(self.root.join("tests/browser"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
            .collect();
        let suite = run(&mut self.node(&tests));
        let long_status = if suite.is_ok() {
            Some(long_take.wait()?)
        } else {
            drop(long_take);
            None
        };
        util::step("browser test alongside: a ten-minute take");
        print!(
            "{}",
            std::fs::read_to_string(self.long_take_log()).unwrap_or_default()
        );
        suite?;
        if let Some(status) = long_status {
            anyhow::ensure!(status.success(), "the long-take test failed ({status})");
        }
        println!("screenshots and logs: {}", self.artifacts.display());
        Ok(())
    }
}

/// A test run alongside others, in a process group of its own: dropped
/// before it is waited for, the whole group (its browser and server too)
/// is ended.
struct Alongside {
    child: std::process::Child,
    waited: bool,
}

impl Alongside {
    fn spawn(mut cmd: Command) -> std::io::Result<Alongside> {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Ok(Alongside {
            child: cmd.spawn()?,
            waited: false,
        })
    }

    /// Waits for it to end on its own.
    fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait()?;
        self.waited = true;
        Ok(status)
    }
}

impl Drop for Alongside {
    fn drop(&mut self) {
        if self.waited {
            return;
        }
        // The group's id is the child's pid (process_group(0)).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    util::step("sync server on PostgreSQL, two instances (issue 16)");
    let cluster = postgres::TestPostgres::start()?;
    run(util::cargo()
        .args(["bench", "--package", "stemroom-server", "--bench", "sync"])
        .env("STEMROOM_TEST_POSTGRES", &cluster.url))?;
    drop(cluster);
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
