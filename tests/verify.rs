//! `uidlmap verify` and `migrate::fast_read`: the fast reader against the Dovecot-order
//! reader on every scenario, and the command against fake and real servers.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_servers::tls::TestCa;
use support::{
    Filters, Out, command, dovecot_or_skip, output, root, scenario, serve_scenario, tempdir,
};
use tokio::net::TcpListener;
use uidlmap::domain::{Destination, DovecotVersion, Endpoint, ImapcProfile};
use uidlmap::migrate::{self, Migration, Source};
use uidlmap::predict;
use uidlmap::report;
use uidlmap::scenario::{self, Scenario, run as scenario_run};
use uidlmap::secret::Secret;
use uidlmap::tls::{Security, Trust};

fn source_of(sc: &Scenario, served: &scenario_run::Served) -> Source {
    let endpoint = |addr: SocketAddr, starttls: bool| Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: if starttls {
            Security::StartTls
        } else {
            Security::Plain
        },
        user: sc.world.user.clone(),
        password: Secret::new(sc.world.password.clone()),
    };
    Source {
        imap: endpoint(served.imap, sc.knobs.imap.starttls),
        pop3: endpoint(served.pop3, sc.knobs.pop3.stls),
        trust: match &served.ca {
            Some(ca) => Trust::only(ca.ca_der.clone()),
            None => Trust::default(),
        },
    }
}

/// Serves the scenario afresh and reads it with `fast` or Dovecot's order.
async fn read(
    sc: &Scenario,
    profile: ImapcProfile,
    fast: bool,
    audit: bool,
) -> Result<Migration, String> {
    let served = serve_scenario(sc).await;
    let source = source_of(sc, &served);
    let mut opts = migrate::Options::new(sc.settings.clone(), profile.imapc(DovecotVersion::V2_3));
    // The fake servers answer at once; a server whose PIPELINING breaks under the deep
    // window costs fast_read one command timeout before it reads again at Dovecot's depth.
    opts.command_timeout = Duration::from_secs(3);
    opts.connect_timeout = Duration::from_secs(5);
    opts.audit = audit;
    for (mailbox, uids) in &sc.cache {
        for (uid, uidl) in uids {
            opts.cache.insert((mailbox.clone(), *uid), uidl.clone());
        }
    }
    let m = if fast {
        migrate::fast_read(&source, &opts).await
    } else {
        migrate::dovecot_order(&source, &opts).await
    };
    served.stop().await;
    m.map_err(|e| e.to_string())
}

fn answer(sc: &Scenario, m: &Migration) -> report::DovecotReport {
    let p = predict::predict(m, &predict::Inputs::new(&sc.settings))
        .unwrap_or_else(|e| panic!("{}: {e}", sc.name));
    report::build(
        report::Heading {
            name: &sc.name,
            description: None,
            imapc: "x",
            destination: Destination::Maildir,
            version: uidlmap::domain::DovecotVersion::V2_3,
        },
        &p.outcome,
        None,
        &|_, _| None,
    )
    .dovecot
}

/// On every scenario whose servers do not act on the order of commands (no fault rules,
/// no timeline events), the fast reader gives the same listing, the same answer and the
/// same reads of every header as Dovecot's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_read_answers_as_dovecot_order_on_every_scenario() {
    let files = scenario::discover(&[root().join("scenarios")]).expect("discover");
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(6));
    let mut tasks = tokio::task::JoinSet::new();
    for f in files {
        let sc = scenario::load_file(&f).unwrap_or_else(|e| panic!("{e}"));
        if !sc.rules.is_empty() || !sc.events.is_empty() {
            continue;
        }
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            compare(&sc).await
        });
    }
    let mut compared = 0;
    while let Some(done) = tasks.join_next().await {
        compared += done.expect("a comparison panicked");
    }
    assert!(compared >= 30, "only {compared} scenarios compared");
}

/// Compares the readers on one scenario under each imapc profile it is about; returns
/// how many comparisons were made.
async fn compare(sc: &Scenario) -> usize {
    let mut compared = 0;
    for &profile in sc.imapc.concrete() {
        let limit = Duration::from_secs(30);
        let slow = tokio::time::timeout(limit, read(sc, profile, false, true))
            .await
            .expect("dovecot_order in time");
        let fast = tokio::time::timeout(limit, read(sc, profile, true, true))
            .await
            .expect("fast_read in time");
        // Without the audit, fast_read reads only what the plan needs: exactly
        // Dovecot's reads.
        let lean = tokio::time::timeout(limit, read(sc, profile, true, false))
            .await
            .expect("fast_read without audit in time");
        match (&slow, &lean) {
            (Ok(slow), Ok(lean)) => {
                assert_eq!(slow.listing, lean.listing, "{}: listing", sc.name);
                assert_eq!(slow.reads, lean.reads, "{}: reads", sc.name);
                assert!(lean.all.is_none());
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{}", sc.name),
            _ => panic!("{}: only one reader failed", sc.name),
        }
        match (slow, fast) {
            (Ok(slow), Ok(fast)) => {
                assert_eq!(slow.listing, fast.listing, "{}: listing", sc.name);
                assert_eq!(answer(sc, &slow), answer(sc, &fast), "{}", sc.name);
                assert_eq!(slow.all, fast.all, "{}: every header", sc.name);
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{}", sc.name),
            (a, b) => panic!(
                "{}: dovecot_order {:?} but fast_read {:?}",
                sc.name,
                a.err(),
                b.err()
            ),
        }
        compared += 1;
    }
    compared
}

// ---------------------------------------------------------------------------------------
// The command, end to end, against the fake servers.

use fake_servers::imap as fimap;
use fake_servers::pop3 as fpop3;
use fake_servers::script::{CommandMatch, FaultAction, Protocol, Rule};
use tokio::sync::oneshot;

const LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    StartTls,
    Implicit,
}

/// Fake servers for a scenario's world, with the chosen TLS; stopped on drop.
struct Running {
    imap: SocketAddr,
    pop3: SocketAddr,
    ca: Option<TestCa>,
    password: String,
    _stops: Vec<oneshot::Sender<()>>,
}

async fn start(sc: &Scenario, tls: Mode, rules: Vec<Rule>) -> Running {
    let ca = (tls != Mode::Plain).then(|| TestCa::generate().expect("test CA"));
    let (mut pop3_opts, mut imap_opts) = scenario_run::server_options(&sc.knobs, None);
    if let Some(ca) = &ca {
        match tls {
            Mode::StartTls => {
                pop3_opts.caps.stls = true;
                pop3_opts.tls = fpop3::Pop3Tls::Stls(ca.acceptor());
                imap_opts.capabilities.starttls = true;
                imap_opts.tls = fimap::TlsMode::StartTls(ca.clone());
            }
            Mode::Implicit => {
                pop3_opts.tls = fpop3::Pop3Tls::Implicit(ca.acceptor());
                imap_opts.tls = fimap::TlsMode::Implicit(ca.clone());
            }
            Mode::Plain => {}
        }
    }
    let world = sc.shared_world();
    let script = fake_servers::Script::new(rules, Vec::new());
    let pop3_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (pop3, imap) = (
        pop3_l.local_addr().expect("addr"),
        imap_l.local_addr().expect("addr"),
    );
    let (ptx, prx) = oneshot::channel::<()>();
    let (itx, irx) = oneshot::channel::<()>();
    tokio::spawn(fpop3::serve(
        pop3_l,
        world.clone(),
        script.clone(),
        pop3_opts,
        async {
            let _ = prx.await;
        },
    ));
    tokio::spawn(fimap::serve(imap_l, world, script, imap_opts, async {
        let _ = irx.await;
    }));
    Running {
        imap,
        pop3,
        ca,
        password: sc.world.password.clone(),
        _stops: vec![ptx, itx],
    }
}

impl Running {
    fn urls(&self, tls: Mode) -> Vec<String> {
        let (i, p) = match tls {
            Mode::Implicit => ("imaps", "pop3s"),
            _ => ("imap", "pop3"),
        };
        let mut v = vec![
            "--imap".into(),
            format!("{i}://alice@{}", self.imap),
            "--pop3".into(),
            format!("{p}://alice@{}", self.pop3),
        ];
        if tls == Mode::StartTls {
            v.push("--starttls".into());
        }
        v
    }

    fn ca_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca.as_ref().expect("a CA").ca_pem).expect("write CA");
        path
    }

    /// Replaces this run's ports, which change every time.
    fn filter(&self, text: &str) -> String {
        Filters::default()
            .port(self.imap.port(), "[IMAP-PORT]")
            .port(self.pop3.port(), "[POP3-PORT]")
            .apply(text)
    }
}

/// Runs the binary with `args`, the password in `UIDLMAP_PASSWORD` when given. The
/// binary bounds its own connects and reads (`--connect-timeout`, `--timeout`).
fn uidlmap_blocking(args: Vec<String>, password: Option<String>) -> Out {
    let mut cmd = command();
    cmd.args(&args);
    if let Some(p) = password {
        cmd.env("UIDLMAP_PASSWORD", p);
    }
    output(&mut cmd)
}

async fn uidlmap(mut args: Vec<String>, password: Option<&str>) -> Out {
    let password = password.map(str::to_string);
    if args.first().is_some_and(|a| a == "verify") {
        args.extend(["--connect-timeout", "5", "--timeout", "20"].map(String::from));
        // Without these the version is the installed doveadm's: name it, so reports
        // do not depend on the machine.
        if !args
            .iter()
            .any(|a| a == "--dovecot-version" || a == "--dovecot-conf")
        {
            args.extend(["--dovecot-version", "2.3"].map(String::from));
        }
    }
    let run = tokio::task::spawn_blocking(move || uidlmap_blocking(args, password));
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("uidlmap finished in time")
        .expect("join")
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots/verify",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_success_exit_0_human_and_yaml() {
    let sc = scenario("providers/dovecot.yaml");
    let s = start(&sc, Mode::Plain, Vec::new()).await;
    let mut a = args(&["verify"]);
    a.extend(s.urls(Mode::Plain));
    let out = uidlmap(a.clone(), Some(&s.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains(&s.password));
    snapshot("plain-success.human", &s.filter(&out.stdout));
    a.extend(args(&["--format", "yaml"]));
    let out = uidlmap(a, Some(&s.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("plain-success.yaml", &s.filter(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_uidls_exit_1_and_settings_that_fix_them() {
    let rel = "dovecot-bugs/positional-size-crossed.yaml";
    let sc = scenario(rel);
    let s = start(&sc, Mode::Plain, Vec::new()).await;
    let mut a = args(&["verify"]);
    a.extend(s.urls(Mode::Plain));

    let out = uidlmap(a.clone(), Some(&s.password)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("2 wrong"), "{}", out.stderr);
    snapshot("crossed.human", &s.filter(&out.stdout));

    let mut json = a.clone();
    json.extend(args(&["--format", "json"]));
    let out = uidlmap(json, Some(&s.password)).await;
    assert_eq!(out.code, 1);
    snapshot("crossed.json", &s.filter(&out.stdout));

    // The TSV is exactly `uidlmap run --format tsv`'s for the same world.
    let mut tsv = a.clone();
    tsv.extend(args(&["--format", "tsv"]));
    let out = uidlmap(tsv, Some(&s.password)).await;
    assert_eq!(out.code, 1);
    let path = root().join("scenarios").join(rel);
    let run = uidlmap(
        vec![
            "run".into(),
            "--format".into(),
            "tsv".into(),
            path.display().to_string(),
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(out.stdout, run.stdout);
    snapshot("crossed.tsv", &out.stdout);

    // That TSV, given back as imapc's UIDL cache, is what the cached-UIDL pass uses.
    let dir = tempdir();
    let cache = dir.path().join("cache.tsv");
    std::fs::write(&cache, &out.stdout).expect("write cache");
    let mut cached = a.clone();
    cached.extend(args(&["--cache", &cache.display().to_string()]));
    let out = uidlmap(cached, Some(&s.password)).await;
    assert!(out.stdout.contains("cached uidls=3"), "{}", out.stdout);

    let mut uidlist = a.clone();
    uidlist.extend(args(&["--format", "dovecot-uidlist"]));
    let out = uidlmap(uidlist, Some(&s.password)).await;
    assert_eq!(out.code, 1);
    snapshot("crossed.dovecot-uidlist", &out.stdout);

    // The recommended setting, given with --set or in a Dovecot configuration, fixes it.
    let mut set = a.clone();
    set.extend(args(&["--set", "skip_size_check=yes"]));
    let out = uidlmap(set, Some(&s.password)).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let dir = tempdir();
    let conf = dir.path().join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "imapc_host = {}\nimapc_port = {}\nimapc_user = %u\nimapc_ssl = no\n\
             pop3c_host = \"{}\"\npop3c_port = {}\n\
             plugin {{\n  pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX # as the docs\n  \
             pop3_migration_skip_size_check = yes\n}}\n",
            s.imap.ip(),
            s.imap.port(),
            s.pop3.ip(),
            s.pop3.port()
        ),
    )
    .expect("write conf");
    let out = uidlmap(
        vec![
            "verify".into(),
            "--dovecot-conf".into(),
            conf.display().to_string(),
            "--imap".into(),
            format!("imap://alice@{}", s.imap),
            "--pop3".into(),
            format!("pop3://alice@{}", s.pop3),
        ],
        Some(&s.password),
    )
    .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // Without URLs the user is missing (`%u` is per user): bad input, naming the flag.
    let out = uidlmap(
        vec![
            "verify".into(),
            "--dovecot-conf".into(),
            conf.display().to_string(),
        ],
        Some(&s.password),
    )
    .await;
    assert_eq!(out.code, 64, "EX_USAGE: {}", out.stderr);
    assert!(out.stderr.contains("no IMAP user"), "{}", out.stderr);
}

/// `--destination` decides what is kept of a UIDL with spaces: maildir cuts it (2 wrong,
/// exit 1), sdbox keeps it (exit 0); a `mail_location` in `--dovecot-conf` names it too,
/// and a maildir-only format refuses another destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_decides_what_is_kept() {
    let sc = scenario("uidls/spaces.yaml");
    let s = start(&sc, Mode::Plain, Vec::new()).await;
    let mut a = args(&["verify", "--format", "tsv"]);
    a.extend(s.urls(Mode::Plain));
    let out = uidlmap(a.clone(), Some(&s.password)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("INBOX\t1\tabc\t1\n"), "{}", out.stdout);
    for dest in ["sdbox", "mdbox"] {
        let mut d = a.clone();
        d.extend(args(&["--destination", dest]));
        let out = uidlmap(d, Some(&s.password)).await;
        assert_eq!(out.code, 0, "{dest}: {}", out.stderr);
        assert!(
            out.stdout.contains("INBOX\t1\tabc def\t1\n"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("INBOX\t2\tghi jkl mno\t2\n"));
    }
    let dir = tempdir();
    let conf = dir.path().join("dovecot.conf");
    std::fs::write(&conf, "mail_location = sdbox:~/sdbox\n").expect("write conf");
    let mut c = args(&["verify", "--format", "yaml"]);
    c.extend(s.urls(Mode::Plain));
    c.extend(args(&["--dovecot-conf", &conf.display().to_string()]));
    let out = uidlmap(c, Some(&s.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\ndestination: sdbox\n"),
        "{}",
        out.stdout
    );
    let mut u = args(&[
        "verify",
        "--format",
        "dovecot-uidlist",
        "--destination",
        "mdbox",
    ]);
    u.extend(s.urls(Mode::Plain));
    let out = uidlmap(u, Some(&s.password)).await;
    // Options that contradict each other: a usage error (EX_USAGE).
    assert_eq!(out.code, 64, "{}", out.stderr);
    assert!(
        out.stderr.contains("the destination is mdbox"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_implicit_tls_verified_by_the_ca() {
    let sc = scenario("providers/dovecot.yaml");
    let dir = tempdir();
    for tls in [Mode::StartTls, Mode::Implicit] {
        let s = start(&sc, tls, Vec::new()).await;
        let ca = s.ca_file(dir.path());
        let mut a = args(&["verify", "--ca-file", &ca.display().to_string()]);
        a.extend(s.urls(tls));
        let out = uidlmap(a, Some(&s.password)).await;
        assert_eq!(out.code, 0, "{}", out.stderr);

        // Without the CA the certificate is not trusted: verification fails
        // (EX_UNAVAILABLE, as for a host that cannot be reached).
        let mut a = args(&["verify"]);
        a.extend(s.urls(tls));
        let out = uidlmap(a.clone(), Some(&s.password)).await;
        assert_eq!(out.code, 69, "{}", out.stderr);
        assert!(
            out.stderr.to_lowercase().contains("certificate"),
            "{}",
            out.stderr
        );

        // --insecure works, and says so loudly.
        a.push("--insecure".into());
        let out = uidlmap(a, Some(&s.password)).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("WARNING: --insecure"), "{}", out.stderr);
    }
}

fn pop3_in_use_once() -> Rule {
    Rule {
        on: CommandMatch::prefix(Protocol::Pop3, "PASS"),
        action: FaultAction::Reply(
            b"-ERR [IN-USE] Mailbox is locked by another session\r\n".to_vec(),
        ),
        skip: 0,
        times: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_use_then_success_through_a_retry() {
    let sc = scenario("providers/dovecot.yaml");
    let s = start(&sc, Mode::Plain, vec![pop3_in_use_once()]).await;
    let mut a = args(&["verify", "--retries", "2", "--retry-delay-ms", "50"]);
    a.extend(s.urls(Mode::Plain));
    let out = uidlmap(a, Some(&s.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Without retries the lock ends the verification: exit 75 (EX_TEMPFAIL: try again
    // later), the command and the reply named, the password not.
    let s = start(&sc, Mode::Plain, vec![pop3_in_use_once()]).await;
    let mut a = args(&["verify", "--retries", "0"]);
    a.extend(s.urls(Mode::Plain));
    let out = uidlmap(a, Some(&s.password)).await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(out.stderr.contains("[IN-USE]"), "{}", out.stderr);
    assert!(out.stderr.contains("PASS ***"), "{}", out.stderr);
    assert!(!out.stderr.contains(&s.password), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_bad_input_exit_with_their_codes_and_leave_no_output_file() {
    let sc = scenario("providers/dovecot.yaml");
    // The IMAP server drops the connection on every FETCH.
    let drop_fetch = Rule {
        on: CommandMatch::prefix(Protocol::Imap, "UID FETCH"),
        action: FaultAction::Disconnect,
        skip: 0,
        times: None,
    };
    let s = start(&sc, Mode::Plain, vec![drop_fetch]).await;
    let dir = tempdir();
    let output = dir.path().join("report.json");
    std::fs::write(&output, "earlier\n").expect("write");
    let mut a = args(&[
        "verify",
        "--retries",
        "0",
        "--output",
        &output.display().to_string(),
    ]);
    a.extend(s.urls(Mode::Plain));
    let out = uidlmap(a, Some(&s.password)).await;
    // A dropped connection is worth trying again later: EX_TEMPFAIL.
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(out.stderr.contains(&s.imap.to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("UID FETCH"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&output).expect("read"), "earlier\n");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);

    // A good run replaces the file whole.
    let good = start(&sc, Mode::Plain, Vec::new()).await;
    let mut a = args(&[
        "verify",
        "--format",
        "json",
        "--output",
        &output.display().to_string(),
    ]);
    a.extend(good.urls(Mode::Plain));
    let out = uidlmap(a, Some(&good.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&output).expect("read");
    assert!(written.contains("\"exit_code\": 0"), "{written}");

    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = uidlmap(
        args(&[
            "verify",
            "--retries",
            "0",
            "--imap",
            &format!("imap://alice@127.0.0.1:{port}"),
            "--pop3",
            &format!("pop3://alice@127.0.0.1:{port}"),
        ]),
        Some("pw"),
    )
    .await;
    assert_eq!(out.code, 69, "EX_UNAVAILABLE: {}", out.stderr);

    // Bad input: usage (64) or configuration (78).
    for (code, bad) in [
        (
            64,
            vec!["verify", "--imap", "http://a@b", "--pop3", "pop3://a@b"],
        ),
        (
            64,
            vec!["verify", "--imap", "imap://a:pw@b", "--pop3", "pop3://a@b"],
        ),
        (
            78,
            vec![
                "verify",
                "--imap",
                "imap://a@b",
                "--pop3",
                "pop3://a@b",
                "--set",
                "nonsense=yes",
            ],
        ),
        (64, vec!["verify", "--pop3", "pop3://a@b"]),
        (
            64,
            vec![
                "verify",
                "--imap",
                "imap://a@b",
                "--pop3",
                "pop3://a@b",
                "--set",
                "x",
            ],
        ),
    ] {
        let out = uidlmap(args(&bad), Some("pw")).await;
        assert_eq!(out.code, code, "{bad:?}: {}", out.stderr);
        assert!(!out.stderr.contains("pw@"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// Real Dovecot as the old provider.

use uidlmap::dovecot::{DovecotSource, OracleOptions, SourceOptions, run_backup};

fn message(n: usize, body_len: usize) -> Vec<u8> {
    format!(
        "From: sender{n}@example.com\r\nTo: alice@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <m{n}@uidlmap.test>\r\n\r\n{}\r\n",
        "x".repeat(body_len)
    )
    .into_bytes()
}

fn real(args_: &[&str], src_imap: String, src_pop3: String, password: &str) -> Out {
    let mut a = args(&[
        "verify",
        "--connect-timeout",
        "5",
        "--timeout",
        "20",
        "--retries",
        "0",
    ]);
    a.extend(args_.iter().map(|s| s.to_string()));
    a.extend([
        "--imap".to_string(),
        src_imap,
        "--pop3".to_string(),
        src_pop3,
    ]);
    uidlmap_blocking(a, Some(password.to_string()))
}

#[test]
fn real_dovecot_over_implicit_tls_and_starttls() {
    if !dovecot_or_skip("real_dovecot_over_implicit_tls_and_starttls") {
        return;
    }
    let src = DovecotSource::start(SourceOptions {
        tls: true,
        ..SourceOptions::with_messages([message(1, 10), message(2, 40), message(3, 90)])
    })
    .expect("start dovecot");
    let ca = src.ca_file().expect("a CA file");
    let ca = ca.display().to_string();
    let pw = src.password().expose().to_string();
    let user = src.user().to_string();
    let out = real(
        &["--ca-file", &ca, "--format", "tsv"],
        format!(
            "imaps://{user}@127.0.0.1:{}",
            src.imaps_port().expect("imaps")
        ),
        format!(
            "pop3s://{user}@127.0.0.1:{}",
            src.pop3s_port().expect("pop3s")
        ),
        &pw,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want: String = (1..=3)
        .map(|uid| {
            format!(
                "INBOX\t{uid}\t{}\t{uid}\n",
                src.expected_uidl(uid).expect("uidl")
            )
        })
        .collect();
    assert_eq!(
        out.stdout,
        format!("mailbox\tuid\tpop3_uidl\tpop3_order\n{want}")
    );

    let out = real(
        &["--ca-file", &ca, "--starttls", "--format", "tsv"],
        format!("imap://{user}@127.0.0.1:{}", src.imap_port()),
        format!("pop3://{user}@127.0.0.1:{}", src.pop3_port()),
        &pw,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A wrong password: authentication failed (77, EX_NOPERM), naming the command but
    // not the password.
    let out = real(
        &["--ca-file", &ca],
        format!(
            "imaps://{user}@127.0.0.1:{}",
            src.imaps_port().expect("imaps")
        ),
        format!(
            "pop3s://{user}@127.0.0.1:{}",
            src.pop3s_port().expect("pop3s")
        ),
        "not-the-password",
    );
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains("LOGIN"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-the-password"), "{}", out.stderr);
}

/// POP3 lists the messages in reverse, all of one size: Dovecot's size pass gives up on
/// equal neighbours and the header pass pairs them. verify predicts exactly what
/// `doveadm backup` with the plugin stores (UIDL and POP3 order per UID).
#[test]
fn real_dovecot_reversed_equal_sizes_matches_doveadm() {
    if !dovecot_or_skip("real_dovecot_reversed_equal_sizes_matches_doveadm") {
        return;
    }
    let msgs: Vec<Vec<u8>> = (1..=5).map(|n| message(n, 50)).collect();
    let imap = DovecotSource::start(SourceOptions::with_messages(msgs.clone())).expect("imap");
    let pop3 = DovecotSource::start(SourceOptions {
        uidvalidity: 1_600_000_000,
        ..SourceOptions::with_messages(msgs.into_iter().rev())
    })
    .expect("pop3");
    let pw = imap.password().expose().to_string();
    let user = imap.user().to_string();
    let out = real(
        &["--format", "tsv"],
        format!("imap://{user}@127.0.0.1:{}", imap.imap_port()),
        format!("pop3://{user}@127.0.0.1:{}", pop3.pop3_port()),
        &pw,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = format!("INBOX\t1\t{}\t5\n", pop3.expected_uidl(5).expect("uidl"));
    assert!(out.stdout.contains(&first), "{}", out.stdout);

    let mut opts = OracleOptions::new(
        Endpoint::local(imap.imap_port(), &user, imap.password().clone()),
        Endpoint::local(pop3.pop3_port(), &user, pop3.password().clone()),
    );
    opts.profile = ImapcProfile::Docs;
    opts.timeout = Duration::from_secs(30);
    let run = run_backup(opts).expect("doveadm");
    assert_eq!(run.exit_code, 0, "{:#?}", run.plugin_lines);
    let stored: String = run
        .mailbox("INBOX")
        .iter()
        .map(|m| format!("INBOX\t{}\t{}\t{}\n", m.uid, m.pop3_uidl, m.pop3_order))
        .collect();
    assert_eq!(
        out.stdout,
        format!("mailbox\tuid\tpop3_uidl\tpop3_order\n{stored}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_jobs_shard_and_resume_as_json_lines() {
    let good = start(&scenario("providers/dovecot.yaml"), Mode::Plain, Vec::new()).await;
    let crossed = start(
        &scenario("dovecot-bugs/positional-size-crossed.yaml"),
        Mode::Plain,
        Vec::new(),
    )
    .await;
    assert_eq!(good.password, crossed.password);
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dir = tempdir();
    let accounts = dir.path().join("accounts.txt");
    std::fs::write(
        &accounts,
        format!(
            "# three accounts\nimap://alice@{} pop3://alice@{}\nimap://alice@{} pop3://alice@{}\n\
             imap://alice@127.0.0.1:{port} pop3://alice@127.0.0.1:{port}\n",
            good.imap, good.pop3, crossed.imap, crossed.pop3
        ),
    )
    .expect("write accounts");
    let output = dir.path().join("results.jsonl");
    let base = args(&[
        "verify",
        "--accounts",
        &accounts.display().to_string(),
        "--output",
        &output.display().to_string(),
        "--retries",
        "0",
        "--jobs",
        "2",
    ]);
    // Shard 1 of 3 is the second account alone.
    let mut first = base.clone();
    first.extend(args(&["--shard", "1/3"]));
    let out = uidlmap(first, Some(&good.password)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines = std::fs::read_to_string(&output).expect("read");
    assert_eq!(lines.lines().count(), 1, "{lines}");

    // --resume does the rest, once each; the exit code is the largest of the accounts'
    // (69: the third cannot be reached), and a tally ends the run.
    let mut rest = base.clone();
    rest.push("--resume".into());
    let out = uidlmap(rest, Some(&good.password)).await;
    assert_eq!(out.code, 69, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "uidlmap: 2 accounts: 1 right, 0 would go wrong, 1 error (exit 69: 1); 1 already done (--resume)"
        ),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&output).expect("read");
    let mut got: Vec<(u64, u64)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            (
                v["account"].as_u64().expect("account"),
                v["exit"].as_u64().expect("exit"),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec![(2, 0), (3, 1), (4, 69)], "{text}");
    assert!(!text.contains(&good.password));

    // An error is not a result: a resumed run tries the unreachable account again (and
    // only it), appending its new line.
    let mut again = base.clone();
    again.push("--resume".into());
    let out = uidlmap(again.clone(), Some(&good.password)).await;
    assert_eq!(out.code, 69, "{}", out.stderr);
    let after = std::fs::read_to_string(&output).expect("read");
    let added = after.strip_prefix(text.as_str()).expect("appended");
    assert_eq!(added.lines().count(), 1, "{added}");
    assert!(added.contains("\"account\":4"), "{added}");

    // Once it answers, nothing is left: a resumed run does nothing and succeeds.
    std::fs::write(
        &accounts,
        format!(
            "# three accounts\nimap://alice@{} pop3://alice@{}\nimap://alice@{} pop3://alice@{}\n\
             imap://alice@{} pop3://alice@{}\n",
            good.imap, good.pop3, crossed.imap, crossed.pop3, good.imap, good.pop3
        ),
    )
    .expect("write accounts");
    let out = uidlmap(again.clone(), Some(&good.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = uidlmap(again, Some(&good.password)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("0 accounts: 0 right"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_over_plain_text_to_another_machine_is_warned_about() {
    // TEST-NET-1: never answers; the warning comes before any connection.
    let plain = args(&[
        "verify",
        "--retries",
        "0",
        "--imap",
        "imap://alice@192.0.2.1",
        "--pop3",
        "pop3://alice@192.0.2.1",
    ]);
    let out = uidlmap(plain.clone(), Some("pw")).await;
    assert_eq!(out.code, 69, "{}", out.stderr);
    for proto in ["IMAP", "POP3"] {
        let warning = format!(
            "WARNING: the {proto} password for 192.0.2.1 would be sent as plain text (no TLS)"
        );
        assert!(out.stderr.contains(&warning), "{}", out.stderr);
    }
    let mut starttls = plain;
    starttls.push("--starttls".into());
    let out = uidlmap(starttls, Some("pw")).await;
    assert!(!out.stderr.contains("plain text"), "{}", out.stderr);
}

/// `--dovecot-conf` in 2.4's syntax as `doveconf -n -P` prints it, and in 2.3's: the
/// version comes from the syntax, each version reads the admin's spellings its own way,
/// and what a version refuses is predicted without reading (measured facts:
/// docs/dovecot-versions.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_conf_per_version_as_doveconf_prints_it() {
    let sc = scenario("dovecot-bugs/positional-size-crossed.yaml");
    let s = start(&sc, Mode::Plain, Vec::new()).await;
    let dir = tempdir();
    let conf24 = |plugin: &str, imapc_extra: &str| {
        format!(
            "# 2.4.1-4 (7d8c0e5759): /etc/dovecot/dovecot.conf\n\
             dovecot_config_version = 2.4.1\n\
             dovecot_storage_version = 2.4.1\n\
             mail_plugins {{\n  pop3_migration = yes\n}}\n\
             pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX\n{plugin}\
             imapc {{\n  host = {}\n  password = {}\n  port = {}\n  user = %{{user}}\n{imapc_extra}}}\n\
             pop3c {{\n  host = {}\n  password = {}\n  port = {}\n  user = %{{user}}\n}}\n",
            s.imap.ip(),
            s.password,
            s.imap.port(),
            s.pop3.ip(),
            s.password,
            s.pop3.port()
        )
    };
    let verify = |text: String, name: &'static str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write conf");
        let mut a = args(&["verify", "--format", "yaml", "--dovecot-conf"]);
        a.push(path.display().to_string());
        a.extend(args(&[
            "--imap",
            "imap://alice@127.0.0.1",
            "--pop3",
            "pop3://alice@127.0.0.1",
        ]));
        uidlmap(a, None)
    };

    // 2.4 reads `y` as yes: the size check skipped, every UIDL right.
    let out = verify(conf24("pop3_migration_skip_size_check = y\n", ""), "y.conf").await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("dovecot_version: \"2.4\""),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("Dovecot 2.4 syntax"), "{}", out.stderr);
    // Neither imapc_features nor mail_prefetch_count: 2.4's own defaults.
    assert!(out.stdout.contains("imapc: defaults"), "{}", out.stdout);
    // The recipe's prefetch on 2.4's default sizing is the docs profile; another
    // prefetch is named by what it says.
    for (prefetch, named) in [
        ("20", "imapc: docs"),
        ("5", "imapc: RFC822.SIZE sizes, mail_prefetch_count 5"),
    ] {
        let text = conf24("", "").replacen(
            "imapc {\n",
            &format!("mail_prefetch_count = {prefetch}\nimapc {{\n"),
            1,
        );
        let out = verify(text, "prefetch.conf").await;
        assert!(
            out.stdout.contains(named),
            "{named}: {}{}",
            out.stdout,
            out.stderr
        );
    }

    // `off` is fatal in 2.4 (exit 89), predicted without reading anything.
    let out = verify(
        conf24("pop3_migration_skip_size_check = off\n", ""),
        "off.conf",
    )
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("exit_code: 89"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Invalid boolean value: off"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("traffic:"), "{}", out.stdout);

    // 2.3's feature name: unknown to 2.4 (exit 75); `%u`: sent literally (exit 77).
    let out = verify(
        conf24("", "  features = rfc822.size fetch-headers\n"),
        "feat.conf",
    )
    .await;
    assert!(out.stdout.contains("exit_code: 75"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Unknown feature: rfc822.size"),
        "{}",
        out.stdout
    );
    let lit = conf24("", "").replace("imapc {\n", "imapc {\n  user = %u\n");
    let lit = lit.replacen("  user = %{user}\n}\npop3c", "}\npop3c", 1);
    let out = verify(lit, "u.conf").await;
    assert!(
        out.stdout.contains("exit_code: 77"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    // The 2.3 recipe with `off`: 2.3 reads it as yes (the size check skipped, every UIDL
    // right), and says so loudly.
    let conf23 = format!(
        "mail_location = maildir:~/Maildir\nimapc_host = {}\nimapc_port = {}\nimapc_user = %u\n\
         imapc_password = {}\nimapc_features = rfc822.size fetch-headers\n\
         pop3c_host = {}\npop3c_port = {}\npop3c_user = %u\npop3c_password = {}\n\
         plugin {{\n  pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX\n  \
         pop3_migration_skip_size_check = off\n}}\n",
        s.imap.ip(),
        s.imap.port(),
        s.password,
        s.pop3.ip(),
        s.pop3.port(),
        s.password
    );
    let out = verify(conf23, "23.conf").await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("dovecot_version: \"2.3\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("reads `off` as YES"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------
// At a distance: the round trips the fast reader waits do not grow with the mailbox.

/// `n` equal-size messages spread over `folders` IMAP folders, all of them in POP3 in
/// reverse order.
fn far_world(n: usize, folders: usize) -> fake_servers::World {
    use fake_servers::world::{ImapMailbox, ImapMessage, Pop3Message};
    let mut w = fake_servers::World {
        user: "alice".into(),
        password: "far-secret".into(),
        ..fake_servers::World::default()
    };
    w.imap.mailboxes = (0..folders)
        .map(|i| match i {
            0 => ImapMailbox::new("INBOX", 7),
            i => ImapMailbox::new(format!("Folder{i:02}"), 7 + i as u32),
        })
        .collect();
    for i in 1..=n {
        let bytes = format!(
            "From: s{i}@example.com\r\nSubject: far {i:05}\r\nMessage-ID: <{i}@far.test>\r\n\r\n{}",
            "same length body line\r\n".repeat(8)
        )
        .into_bytes();
        w.imap.mailboxes[(i - 1) % folders]
            .append(ImapMessage::honest(format!("m{i}"), bytes.clone()));
        w.pop3
            .messages
            .push(Pop3Message::honest(format!("m{i}"), format!("u{i}"), bytes));
    }
    w.pop3.messages.reverse();
    w
}

/// Lock-step waits of `fast_read` (with the audit) through a link of 5 ms each way,
/// counted by the link (POP3, IMAP); the answer is checked against the direct read.
async fn far_waits(n: usize, folders: usize) -> (u64, u64) {
    use fake_servers::latency::{Link, Turns};
    let world = fake_servers::SharedWorld::new(far_world(n, folders));
    let (pop3_turns, imap_turns) = (
        std::sync::Arc::new(Turns::default()),
        std::sync::Arc::new(Turns::default()),
    );
    let link = Link::latency(Duration::from_millis(5));
    let pop3_opts = fpop3::Pop3Options {
        link,
        turns: pop3_turns.clone(),
        ..fpop3::Pop3Options::default()
    };
    let imap_opts = fimap::ImapOptions {
        link,
        turns: imap_turns.clone(),
        ..fimap::ImapOptions::default()
    };
    let pop3 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (pop3_addr, imap_addr) = (pop3.local_addr().unwrap(), imap.local_addr().unwrap());
    let script = fake_servers::Script::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let stopped = |mut rx: tokio::sync::watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    tokio::spawn(fpop3::serve(
        pop3,
        world.clone(),
        script.clone(),
        pop3_opts,
        stopped(stop_rx.clone()),
    ));
    tokio::spawn(fimap::serve(
        imap,
        world,
        script,
        imap_opts,
        stopped(stop_rx),
    ));
    let ep = |a: SocketAddr| Endpoint::local(a.port(), "alice", Secret::new("far-secret"));
    let source = Source {
        imap: ep(imap_addr),
        pop3: ep(pop3_addr),
        trust: Trust::default(),
    };
    let opts = migrate::Options::new(
        uidlmap::matcher::Settings::enabled(),
        uidlmap::domain::Imapc::DOCS,
    );
    let m = tokio::time::timeout(LIMIT, migrate::fast_read(&source, &opts))
        .await
        .expect("fast_read in time")
        .expect("fast_read");
    assert_eq!(m.listing.pop3.len(), n);
    let all = m.all.as_ref().expect("the audit's reads");
    assert_eq!(all.pop3.len(), n, "every POP3 header read");
    let _ = stop_tx.send(());
    (pop3_turns.waits(), imap_turns.waits())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_read_waits_as_many_round_trips_for_a_big_mailbox_as_for_a_small_one() {
    let small = far_waits(40, 1).await;
    let big = far_waits(3000, 12).await;
    eprintln!("lock-step waits (POP3, IMAP): 40 messages {small:?}, 3000 in 12 folders {big:?}");
    assert!(
        big.0 <= small.0 && big.1 <= small.1 + 1,
        "{small:?} then {big:?}"
    );
    assert!(big.0 + big.1 <= 10, "{big:?}");
}

/// `--connections`: many folders spread over several IMAP connections give the listing,
/// the reads, every header and the answer of one connection and of Dovecot's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_spread_over_connections_read_as_one_connection() {
    let world = fake_servers::SharedWorld::new(far_world(600, 13));
    let pop3 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (pop3_addr, imap_addr) = (pop3.local_addr().unwrap(), imap.local_addr().unwrap());
    let script = fake_servers::Script::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let stopped = |mut rx: tokio::sync::watch::Receiver<()>| async move {
        let _ = rx.changed().await;
    };
    tokio::spawn(fpop3::serve(
        pop3,
        world.clone(),
        script.clone(),
        fpop3::Pop3Options::default(),
        stopped(stop_rx.clone()),
    ));
    tokio::spawn(fimap::serve(
        imap,
        world,
        script.clone(),
        fimap::ImapOptions::default(),
        stopped(stop_rx),
    ));
    let ep = |a: SocketAddr| Endpoint::local(a.port(), "alice", Secret::new("far-secret"));
    let source = Source {
        imap: ep(imap_addr),
        pop3: ep(pop3_addr),
        trust: Trust::default(),
    };
    let settings = uidlmap::matcher::Settings::enabled();
    let rows = |m: &Migration| {
        let p = predict::predict(m, &predict::Inputs::new(&settings)).expect("predict");
        let a = p.audit.as_ref().map(|a| a.counts);
        let r: Vec<(String, u32, Option<String>, u32)> = p
            .outcome
            .mailboxes
            .iter()
            .flat_map(|mb| {
                mb.messages.iter().map(|x| {
                    (
                        mb.name.to_string(),
                        x.uid,
                        x.uidl.map(str::to_string),
                        x.order,
                    )
                })
            })
            .collect();
        (r, a)
    };
    let read = |k: usize, fast: bool, audit: bool| {
        let mut opts = migrate::Options::new(
            settings.clone(),
            ImapcProfile::Docs.imapc(DovecotVersion::V2_3),
        );
        opts.imap_connections = k;
        opts.audit = audit;
        let source = source.clone();
        async move {
            let m = if fast {
                migrate::fast_read(&source, &opts).await
            } else {
                migrate::dovecot_order(&source, &opts).await
            };
            m.expect("read")
        }
    };
    let slow = tokio::time::timeout(LIMIT, read(1, false, true))
        .await
        .expect("in time");
    let one = tokio::time::timeout(LIMIT, read(1, true, true))
        .await
        .expect("in time");
    let imap_sessions = script.session_count(Protocol::Imap);
    let three = tokio::time::timeout(LIMIT, read(3, true, true))
        .await
        .expect("in time");
    assert_eq!(
        script.session_count(Protocol::Imap) - imap_sessions,
        3,
        "three IMAP sessions"
    );
    let lean = tokio::time::timeout(LIMIT, read(8, true, false))
        .await
        .expect("in time");
    assert_eq!(one.listing, three.listing);
    assert_eq!(slow.listing, three.listing);
    assert_eq!(one.all, three.all, "every header");
    assert_eq!(one.reads, three.reads);
    assert_eq!(slow.reads, lean.reads, "Dovecot's reads without the audit");
    assert_eq!(rows(&one), rows(&three));
    assert_eq!(rows(&slow), rows(&three));
    assert_eq!(rows(&slow).0, rows(&lean).0);
    let _ = stop_tx.send(());
}
