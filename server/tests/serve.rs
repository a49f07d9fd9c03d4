//! The real `stemroom` binary on loopback: start, answer, stop gracefully.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

mod common;

struct Server {
    child: Child,
    addr: String,
}

fn start(data_dir: &std::path::Path, site_dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stemroom"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--site-dir")
        .arg(site_dir)
        .args(
            common::test_database()
                .map(|url| ["--database".to_string(), url])
                .into_iter()
                .flatten(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("Stemroom is serving http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server { child, addr }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serves_health_creates_the_database_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html>").unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data, &site);

    let health = http_get(&server.addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#""status":"ok""#), "{health}");
    assert!(
        data.join("stemroom.db").is_file() || common::test_database_in_use(),
        "the database is created on first start"
    );

    // SAFETY: plain FFI call with a child pid we own.
    assert_eq!(unsafe { libc_kill(server.child.id() as i32, 15) }, 0);
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM is a graceful shutdown, got {status}"
    );
}

#[test]
fn refuses_to_start_without_a_built_app() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stemroom"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--site-dir")
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the app is not built"), "{stderr}");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
