//! A throwaway PostgreSQL server for the server tests on PostgreSQL
//! (issue 16): Debian's `postgresql` installed when missing (as root), a
//! cluster made in a temporary directory, listening on a free loopback
//! port, and shut down when dropped. Each test server then makes its own
//! database in it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::run;

/// Debian's PostgreSQL programs (the newest installed version).
fn programs() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The PostgreSQL programs, installed from Debian's packages when missing.
fn ensure() -> Result<PathBuf> {
    if let Some(bin) = programs() {
        return Ok(bin);
    }
    if !is_root() {
        bail!(
            "the server tests on PostgreSQL need it: install Debian's `postgresql` package \
             (sudo apt-get install postgresql)"
        );
    }
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    programs().context("apt-get installed postgresql, but /usr/lib/postgresql/*/bin has no initdb")
}

/// `program`, as Debian's `postgres` user when this is root (PostgreSQL
/// refuses to run as root).
fn as_owner(program: PathBuf, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A running test cluster.
pub struct TestPostgres {
    child: Child,
    dir: PathBuf,
    bin: PathBuf,
    root: bool,
    /// `postgres://stemroom@127.0.0.1:PORT/postgres` (trusted on loopback).
    pub url: String,
}

impl TestPostgres {
    pub fn start() -> Result<TestPostgres> {
        let bin = ensure()?;
        let root = is_root();
        let dir =
            std::env::temp_dir().join(format!("stemroom-test-postgres-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if root {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        let data = dir.join("data");
        run(as_owner(bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "stemroom", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.join("postgres.log"))?;
        let child = as_owner(bin.join("postgres"), root)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start postgres")?;
        let cluster = TestPostgres {
            child,
            dir,
            bin: bin.clone(),
            root,
            url: format!("postgres://stemroom@127.0.0.1:{port}/postgres"),
        };
        let started = Instant::now();
        let mut cluster = cluster;
        loop {
            if let Ok(Some(status)) = cluster.child.try_wait() {
                bail!(
                    "the test PostgreSQL stopped at start ({status}); see {}",
                    cluster.dir.join("postgres.log").display()
                );
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(cluster);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the test PostgreSQL did not start; see {}",
                    cluster.dir.join("postgres.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl TestPostgres {
    /// A shell command that restarts the cluster (a fast shutdown, then
    /// the same options again), for the outage test.
    pub fn restart_command(&self) -> String {
        let owner = if self.root {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{owner}'{}' restart -m fast -w -D '{}' -l '{}'",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display(),
            self.dir.join("restart.log").display()
        )
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // A fast shutdown: connections closed, nothing left running.
        let stopped = as_owner(self.bin.join("pg_ctl"), self.root)
            .args(["stop", "-m", "fast", "-D"])
            .arg(self.dir.join("data"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
