//! What the integration tests share, so each test file says only what it proves: where
//! the repository is, scenarios served on 127.0.0.1, real Dovecot started (or the test
//! skipped, out loud), temporary folders, filters for what changes between runs (ports,
//! paths), and the built `uidlmap` binary run as a user runs it.
//!
//! Included by each test file as `mod support;`; every file uses only some of it.
#![allow(dead_code)]

pub mod faults;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_servers::imap::{ImapOptions, serve};
use fake_servers::tls::TestCa;
use fake_servers::{Script, SharedWorld};
use tokio::net::TcpListener;
use uidlmap::dovecot::{DovecotSource, SourceOptions, unavailable_reason};
use uidlmap::scenario::{Scenario, load_file, run as scenario_run};

// ---------------------------------------------------------------------------------------
// Where things are.

/// The repository root (the `uidlmap` crate's folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Loads `scenarios/<rel>`, panicking with the loader's file:line:column message.
pub fn scenario(rel: &str) -> Scenario {
    load_file(&root().join("scenarios").join(rel)).unwrap_or_else(|e| panic!("{e}"))
}

/// `f`, or a panic naming the limit: no test may hang.
pub async fn within<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {} s", limit.as_secs()))
}

// ---------------------------------------------------------------------------------------
// Skipping, and real Dovecot.

/// Says `skipped: <test>: <why>` on the process's real stderr. libtest captures
/// `eprintln!` of a passing test, and a skipped test passes: a skip must never be silent.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// `true` when real Dovecot can run here (installed, and we are root); otherwise says
/// the test is skipped and why, and returns `false`.
pub fn dovecot_or_skip(test: &str) -> bool {
    match unavailable_reason() {
        None => true,
        Some(why) => {
            skip(test, &format!("Dovecot is not usable here: {why}"));
            false
        }
    }
}

/// Starts a Dovecot source off the async runtime (its start blocks on processes and
/// greetings).
pub async fn start_dovecot(opts: SourceOptions) -> DovecotSource {
    tokio::task::spawn_blocking(move || DovecotSource::start(opts))
        .await
        .expect("no panic")
        .expect("start dovecot")
}

/// Stops a Dovecot source off the async runtime (its drop waits for the processes).
pub async fn stop_dovecot(src: DovecotSource) {
    tokio::task::spawn_blocking(move || drop(src))
        .await
        .expect("no panic");
}

// ---------------------------------------------------------------------------------------
// Fake servers.

/// Serves a scenario's world and script afresh on two free ports of 127.0.0.1, with a
/// new test CA when the scenario uses TLS.
pub async fn serve_scenario(sc: &Scenario) -> scenario_run::Served {
    let ca = scenario_run::needs_tls(sc).then(|| TestCa::generate().expect("test CA"));
    let pop3 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    scenario_run::serve(sc, pop3, imap, ca).expect("serve")
}

/// The fake IMAP server alone on a free port of 127.0.0.1, stopped by [`FakeImap::stop`].
pub struct FakeImap {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeImap {
    pub async fn start(world: SharedWorld, script: Script, options: ImapOptions) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(listener, world, script, options, async {
            let _ = rx.await;
        }));
        FakeImap {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// Stops the server and waits (bounded) for it to end without a panic.
    pub async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        within(Duration::from_secs(30), self.task)
            .await
            .expect("server did not panic");
    }
}

// ---------------------------------------------------------------------------------------
// Temporary folders and output filters.

/// A new temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Replaces what changes from run to run (ports, temporary paths) with fixed labels, so
/// output can be compared with a snapshot.
#[derive(Default)]
pub struct Filters(Vec<(String, String)>);

impl Filters {
    /// `:<port>` becomes `:<label>`.
    pub fn port(mut self, port: u16, label: &str) -> Self {
        self.0.push((format!(":{port}"), format!(":{label}")));
        self
    }

    /// The path, as displayed, becomes `label`.
    pub fn path(mut self, path: &Path, label: &str) -> Self {
        self.0.push((path.display().to_string(), label.to_string()));
        self
    }

    pub fn apply(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    }
}

// ---------------------------------------------------------------------------------------
// The binary.

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The built binary, run in the repository root with no password taken from this
/// process's environment and nothing on stdin.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uidlmap"));
    cmd.current_dir(root())
        .env_remove("UIDLMAP_PASSWORD")
        .env_remove("UIDLMAP_IMAP_PASSWORD")
        .env_remove("UIDLMAP_POP3_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to its end. The binary bounds its own connects and reads.
pub fn output(cmd: &mut Command) -> Out {
    out(cmd.output().expect("run uidlmap"))
}

/// Runs `cmd` with `stdin` written to it from a thread, so a large input cannot deadlock
/// against a full stdout pipe; the binary may stop reading early, so a broken pipe is
/// fine.
pub fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run uidlmap");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let done = child.wait_with_output().expect("wait for uidlmap");
    writer.join().expect("writer");
    out(done)
}

/// `uidlmap <args>` in the repository root.
pub fn uidlmap<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Out {
    output(command().args(args))
}

fn out(o: std::process::Output) -> Out {
    Out {
        code: o.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(o.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(o.stderr).expect("UTF-8 stderr"),
    }
}
