//! A hostile peer and a careless user: servers that trickle, flood or send endless
//! lines end at the deadline or a cap; inputs that never end are cut at their limit;
//! `--output` never replaces a special file; option values out of range, empty
//! account lists and fixtures outside the scenarios tree are refused; retries are
//! exactly as many as asked; a verdict that could not be reached never reads as
//! success.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use fake_servers::script::{CommandMatch, FaultAction, Rule};
use fake_servers::{FakeServers, Protocol, Script, Servers, WorldBuilder};
use support::{Out, command, output, tempdir, uidlmap, within, write_file};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uidlmap::imap::client::{self as imapc, ImapError};
use uidlmap::pop3::client::{self as pop3c, Pop3Error};
use uidlmap::secret::Secret;
use uidlmap::tls::{Security, Trust};

/// A server that answers every connection with `greeting`, then, once it has read
/// `after_reads` chunks from the client, runs `tail` (a trickle, a flood, an endless
/// line) until the client goes away.
async fn hostile(
    greeting: &'static [u8],
    after_reads: usize,
    tail: fn(usize) -> Vec<u8>,
    pause: Duration,
) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(greeting).await;
                let mut buf = [0u8; 4096];
                for _ in 0..after_reads {
                    if s.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let _ = s.write_all(b"+OK\r\n").await;
                }
                for i in 0.. {
                    if s.write_all(&tail(i)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
            });
        }
    });
    port
}

fn pop3_timeouts(command: Duration) -> pop3c::Timeouts {
    pop3c::Timeouts {
        connect: Duration::from_secs(5),
        command,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_pop3_server_ends_at_the_deadline() {
    // One byte every 100 ms: the idle timeout (500 ms) never fires, the deadline does.
    let port = hostile(
        b"+OK ready\r\n",
        0,
        |_| b"+".to_vec(),
        Duration::from_millis(100),
    )
    .await;
    let started = Instant::now();
    let c = within(Duration::from_secs(10), async {
        let mut c = pop3c::connect(
            "127.0.0.1",
            port,
            Security::Plain,
            &Trust::default(),
            pop3_timeouts(Duration::from_millis(500)),
            pop3c::Limits::default(),
        )
        .await
        .unwrap();
        c.noop().await
    })
    .await;
    let took = started.elapsed();
    assert!(matches!(c, Err(Pop3Error::Deadline { .. })), "{c:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let msg = c.unwrap_err().to_string();
    assert!(msg.contains("NOOP") && msg.contains("deadline"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_in_a_top_reply_hits_the_line_cap() {
    // `+OK` to USER, PASS and TOP, then one line that never ends, as fast as it goes.
    let port = hostile(
        b"+OK ready\r\n",
        3,
        |_| vec![b'a'; 64 * 1024],
        Duration::ZERO,
    )
    .await;
    let started = Instant::now();
    let got = within(Duration::from_secs(20), async {
        let mut c = pop3c::connect(
            "127.0.0.1",
            port,
            Security::Plain,
            &Trust::default(),
            pop3_timeouts(Duration::from_secs(5)),
            pop3c::Limits::default(),
        )
        .await
        .unwrap();
        c.login("u", &Secret::new("p")).await.unwrap();
        c.top(1, 0).await
    })
    .await;
    let msg = got.unwrap_err().to_string();
    assert!(msg.contains("TOP 1") && msg.contains("1048576"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_exists_flood_and_an_imap_trickle_end_in_time() {
    // Alternating EXISTS lines after the LOGIN reply.
    let flood = |i: usize| {
        if i == 0 {
            b"A1 OK logged in\r\n".to_vec()
        } else {
            b"* 1 EXISTS\r\n* 900000 EXISTS\r\n".repeat(50)
        }
    };
    let port = hostile(b"* OK ready\r\n", 0, flood, Duration::ZERO).await;
    let timeouts = imapc::Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(5),
    };
    let started = Instant::now();
    let got = within(Duration::from_secs(20), async {
        let mut c = imapc::connect(
            "127.0.0.1",
            port,
            Security::Plain,
            &Trust::default(),
            timeouts,
            imapc::Limits::default(),
        )
        .await
        .unwrap();
        c.login("u", &Secret::new("p")).await.unwrap();
        c.examine("INBOX").await
    })
    .await;
    assert!(
        matches!(
            got,
            Err(ImapError::TooManyExists { .. } | ImapError::TooManyResponses { .. })
        ),
        "{got:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let port = hostile(
        b"* OK ready\r\n",
        0,
        |_| b"*".to_vec(),
        Duration::from_millis(100),
    )
    .await;
    let timeouts = imapc::Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_millis(500),
    };
    let started = Instant::now();
    let got = within(Duration::from_secs(10), async {
        let mut c = imapc::connect(
            "127.0.0.1",
            port,
            Security::Plain,
            &Trust::default(),
            timeouts,
            imapc::Limits::default(),
        )
        .await
        .unwrap();
        c.noop().await
    })
    .await;
    // The greeting arrived; then one byte per 100 ms never makes a reply.
    assert!(matches!(got, Err(ImapError::Deadline { .. })), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// The binary.

fn servers(rules: Vec<Rule>) -> FakeServers {
    let world = WorldBuilder::new()
        .messages("m", 3, 1_200)
        .mailbox("INBOX", ["m1", "m2", "m3"])
        .build()
        .unwrap();
    Servers::new(world)
        .script(Script::new(rules, Vec::new()))
        .start()
        .unwrap()
}

fn verify(s: &FakeServers, extra: &[&str]) -> Out {
    let mut cmd = command();
    cmd.args([
        "verify",
        "--imap",
        &format!("imap://alice@{}", s.imap()),
        "--pop3",
        &format!("pop3://alice@{}", s.pop3()),
        "--timeout",
        "2",
        "--connect-timeout",
        "2",
    ]);
    cmd.args(extra).env("UIDLMAP_PASSWORD", "secret");
    output(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_top_never_reads_as_success() {
    let top = Rule {
        on: CommandMatch::prefix(Protocol::Pop3, "TOP"),
        action: FaultAction::Disconnect,
        skip: 0,
        times: None,
    };
    let s = servers(vec![top]);
    let out = tokio::task::spawn_blocking(move || verify(&s, &["--retries", "0"]))
        .await
        .unwrap();
    assert_eq!(out.code, 76, "{}", out.stderr);
    assert!(
        out.stderr.contains("could not be read")
            && out.stderr.contains("POP3 server 127.0.0.1:")
            && out.stderr.contains(": 3 message(s)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("TOP"), "{}", out.stderr);
    assert!(!out.stderr.contains("for IMAP"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_exactly_as_many_as_asked() {
    for retries in [0u64, 2] {
        let garbled = Rule {
            on: CommandMatch::prefix(Protocol::Imap, "LOGIN"),
            action: FaultAction::Reply(b"{tag} \x01 garbled\r\n".to_vec()),
            skip: 0,
            times: None,
        };
        let s = servers(vec![garbled]);
        let script = s.script().clone();
        let r = retries.to_string();
        let out = tokio::task::spawn_blocking(move || {
            let out = verify(&s, &["--retries", &r, "--retry-delay-ms", "10"]);
            drop(s);
            out
        })
        .await
        .unwrap();
        assert_eq!(out.code, 76, "{}", out.stderr);
        let sessions = script.session_count(Protocol::Imap);
        let logins = script
            .log()
            .iter()
            .filter(|l| l.protocol == Protocol::Imap && l.command.starts_with("LOGIN"))
            .count() as u64;
        // A garbled reply is not a passing failure: tried once whatever --retries says.
        assert_eq!((sessions, logins), (1, 1), "{}", out.stderr);
    }
    // Connections refused: R retries, each reported as it happens, R + 1 tries in all.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = uidlmap([
        "verify",
        "--imap",
        &format!("imap://a@127.0.0.1:{port}"),
        "--pop3",
        &format!("pop3://a@127.0.0.1:{port}"),
        "--retries",
        "3",
        "--retry-delay-ms",
        "10",
        "--password-file",
        "/dev/null",
    ]);
    // (An empty password file is refused before any network work.)
    assert_eq!(out.code, 65, "{}", out.stderr);
    let dir = tempdir();
    let pw = write_file(dir.path(), "pw", "pw\n");
    let started = Instant::now();
    let out = uidlmap([
        "verify",
        "--imap",
        &format!("imap://a@127.0.0.1:{port}"),
        "--pop3",
        &format!("pop3://a@127.0.0.1:{port}"),
        "--retries",
        "3",
        "--retry-delay-ms",
        "10",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 69, "{}", out.stderr);
    let reported: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("retry "))
        .collect();
    assert_eq!(reported.len(), 3, "{}", out.stderr);
    assert!(
        reported[2].contains("retry 3 of 3 in 0.0 s"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn option_bounds_and_empty_account_lists() {
    let base = ["verify", "--imap", "imap://a@h", "--pop3", "pop3://a@h"];
    for (opt, value) in [
        ("--timeout", "0"),
        ("--timeout", "99999999"),
        ("--connect-timeout", "0"),
        ("--retries", "1000000"),
        ("--retry-delay-ms", "99999999999999"),
    ] {
        let mut a: Vec<&str> = base.to_vec();
        a.extend([opt, value]);
        let out = uidlmap(&a);
        assert_eq!(out.code, 64, "{opt} {value}: {}", out.stderr);
        assert!(
            out.stderr.contains(opt) && out.stderr.contains("not in"),
            "{}",
            out.stderr
        );
    }
    let dir = tempdir();
    let empty = write_file(dir.path(), "accounts", "# nobody yet\n\n");
    for accounts in [empty.to_str().unwrap(), "/dev/null"] {
        let out = uidlmap(["verify", "--accounts", accounts]);
        assert_eq!(out.code, 65, "{}", out.stderr);
        assert!(out.stderr.contains("no accounts"), "{}", out.stderr);
    }
}

#[test]
fn endless_inputs_are_cut_at_their_limit() {
    let base = ["verify", "--imap", "imap://a@h", "--pop3", "pop3://a@h"];
    for (opt, limit) in [
        ("--password-file", "password file limit"),
        ("--cache", "UIDL cache limit"),
        ("--dovecot-conf", "Dovecot configuration limit"),
    ] {
        let mut a: Vec<&str> = base.to_vec();
        a.extend([opt, "/dev/zero"]);
        // A password, so that nothing stops before the file is read.
        let out = output(command().args(&a).env("UIDLMAP_PASSWORD", "pw"));
        assert_eq!(out.code, 65, "{opt}: {}", out.stderr);
        assert!(out.stderr.contains(limit), "{opt}: {}", out.stderr);
    }
    let out = uidlmap(["verify", "--accounts", "/dev/zero"]);
    assert!(out.stderr.contains("account list limit"), "{}", out.stderr);
    for a in [
        vec!["hash", "/dev/zero"],
        vec!["hash", "--hex-lines", "/dev/zero"],
    ] {
        let started = Instant::now();
        let out = uidlmap(&a);
        assert_eq!(out.code, 65, "{a:?}: {}", out.stderr);
        assert!(out.stderr.contains("limit of"), "{a:?}: {}", out.stderr);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}

#[test]
fn fixtures_stay_inside_the_scenarios_tree() {
    let dir = tempdir();
    let root = dir.path().join("scenarios");
    std::fs::create_dir_all(root.join("_fixtures")).unwrap();
    std::fs::write(dir.path().join("outside.eml"), "Subject: x\r\n\r\nbody\r\n").unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("outside.eml"),
        root.join("_fixtures/link.eml"),
    )
    .unwrap();
    for (name, file) in [
        ("dotdot", "../../../../../../../../etc/hostname"),
        ("link", "_fixtures/link.eml"),
        ("proc", "../../../../../../../../proc/self/status"),
    ] {
        let text = format!(
            "description: x\nmessages:\n  m: {{ file: {file}, line_ending: keep }}\nimap:\n  mailboxes:\n    INBOX: [m]\nexpect: {{ outcome: success }}\n"
        );
        let path = write_file(&root, &format!("{name}.yaml"), text);
        let out = uidlmap(["scenario", "check", path.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{name}: {}", out.stdout);
        assert!(
            out.stderr.contains("outside") || out.stdout.contains("outside"),
            "{name}: {}{}",
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_a_regular_file_checked_first_and_keeps_its_mode() {
    let dir = tempdir();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path().join("target"), &link).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Nothing listens on port 9: the output is refused before any connection.
    for bad in ["/dev/null", link.to_str().unwrap(), fifo.to_str().unwrap()] {
        let out = uidlmap([
            "verify",
            "--imap",
            "imap://a@127.0.0.1:9",
            "--pop3",
            "pop3://a@127.0.0.1:9",
            "--output",
            bad,
        ]);
        assert_eq!(out.code, 65, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("not a regular file"),
            "{bad}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("connect"), "{bad}: {}", out.stderr);
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let out = uidlmap([
        "verify",
        "--imap",
        "imap://a@127.0.0.1:9",
        "--pop3",
        "pop3://a@127.0.0.1:9",
        "--output",
        "/nonexistent-folder/report.txt",
    ]);
    assert_eq!(out.code, 65, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot create a file"),
        "{}",
        out.stderr
    );

    let report = write_file(dir.path(), "report.txt", "old\n");
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = servers(Vec::new());
    let path = report.to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || verify(&s, &["--output", &path]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let meta = std::fs::metadata(&report).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_ne!(std::fs::read_to_string(&report).unwrap(), "old\n");
}
