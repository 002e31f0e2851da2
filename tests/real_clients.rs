//! Real mail clients against `uidlmap serve`: fetchmail and mpop read the POP3 view,
//! mbsync (isync) the IMAP view, of a few scenarios. Every message each client stores must
//! be the scenario's message byte for byte (after the client's own documented rewriting:
//! mpop and mbsync store LF line ends, mbsync adds an `X-TUID:` line), under the UIDL or
//! UID the scenario gives it; a second run must fetch nothing new. A client that is not
//! installed is reported as `skipped: …` (CI installs them). Every client run has a
//! timeout, its own HOME and configuration in a temp folder, and talks to 127.0.0.1 only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fake_servers::World;

/// Scenarios whose views any client can read: honest sizes and ordinary UIDLs, several
/// orders and mailboxes, and a provider profile with header quirks and `[Gmail]/…` names.
const SCENARIOS: &[&str] = &[
    "basic/identical",
    "order/reversed",
    "folders/pop3-includes-sent",
    "providers/gmail",
];

/// Longest a client may run once.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn installed(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// `uidlmap serve` for one scenario, killed on drop.
struct Serve {
    child: Child,
    line: serde_json::Value,
    /// With TLS: the CA file written by `--ca-out`; clients then use the implicit-TLS
    /// ports and `localhost`.
    ca: Option<PathBuf>,
}

impl Serve {
    fn start(scenario: &Path, ca_out: Option<&Path>) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_uidlmap"));
        cmd.arg("serve").arg(scenario);
        if let Some(ca) = ca_out {
            cmd.arg("--tls").arg("--ca-out").arg(ca);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("uidlmap serve starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("uidlmap serve printed no line within 30 s");
            }
        };
        let line: serde_json::Value =
            serde_json::from_str(&line).expect("serve prints one JSON line");
        if let Some(ca) = ca_out {
            assert_eq!(line["ca_file"].as_str(), Some(&*ca.to_string_lossy()));
        }
        Serve {
            child,
            line,
            ca: ca_out.map(Path::to_path_buf),
        }
    }

    /// The host name and port a client should use for `protocol` (`pop3` or `imap`).
    fn endpoint(&self, protocol: &str) -> (&'static str, u16) {
        match self.ca {
            // The certificate names localhost; isync matches no IP addresses in it.
            Some(_) => ("localhost", self.port(&format!("{protocol}s"))),
            None => ("127.0.0.1", self.port(protocol)),
        }
    }

    fn port(&self, key: &str) -> u16 {
        let addr = self.line[key].as_str().expect("address");
        addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client to completion or kills it after [`CLIENT_TIMEOUT`].
fn run_client(mut cmd: Command, home: &Path, what: &str) -> ExitStatus {
    cmd.env("HOME", home)
        .env("FETCHMAILHOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            if !matches!(status.code(), Some(0 | 1)) {
                panic!(
                    "{what} exited {status}:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            return status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {CLIENT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    // fetchmail and mpop refuse configuration files others can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A delivery script: stores stdin as the next numbered file of the folder it is given,
/// so file k is the k-th message the client delivered.
fn delivery_script(dir: &Path) -> PathBuf {
    let script = dir.join("deliver.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nn=$(ls \"$1\" | wc -l)\ncat > \"$1/$(printf %04d $((n + 1)))\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

/// The numbered files of a delivery folder, in delivery order.
fn delivered(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(*b);
    }
    out
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

/// The POP3 view as the test expects to find it: (UIDL, bytes, LIST size) in POP3 order.
fn pop3_expected(world: &World) -> Vec<(String, Vec<u8>, u64)> {
    world
        .pop3
        .messages
        .iter()
        .map(|m| (m.uidl.clone(), m.full.clone(), m.size()))
        .collect()
}

fn fetchmail(bin: &Path, world: &World, serve: &Serve, tmp: &Path) {
    let out = tmp.join("fetchmail-out");
    std::fs::create_dir_all(&out).unwrap();
    let script = delivery_script(tmp);
    let rc = tmp.join("fetchmailrc");
    let ids = tmp.join("fetchids");
    // `sslproto ''` in plain text: fetchmail 6.4 tries STLS even when CAPA does not
    // offer it. `no stripcr` keeps CRLF; `invisible` adds no Received line.
    let (host, port) = serve.endpoint("pop3");
    let tls = match &serve.ca {
        Some(ca) => format!("ssl sslcertck sslcertfile \"{}\"", ca.display()),
        None => "sslproto ''".to_string(),
    };
    write_private(
        &rc,
        &format!(
            "set no syslog\nset invisible\nset idfile \"{ids}\"\n\
             poll {host} with proto POP3 port {port} uidl\n  \
             user \"{user}\" there with password \"{pass}\" is \"{user}\" here\n  \
             options keep no rewrite no stripcr {tls}\n  \
             mda \"{script} {out}\"\n",
            ids = ids.display(),
            user = world.user,
            pass = world.password,
            script = script.display(),
            out = out.display(),
        ),
    );
    let cmd = || {
        let mut c = Command::new(bin);
        c.arg("-f").arg(&rc).arg("--nodetach");
        c
    };
    let first = run_client(cmd(), tmp, "fetchmail");
    let expected = pop3_expected(world);
    let got = delivered(&out);
    assert_eq!(got.len(), expected.len(), "fetchmail: message count");
    assert_eq!(first.code(), Some(if got.is_empty() { 1 } else { 0 }));
    for (i, ((_, bytes, size), got)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(
            got.len() as u64,
            *size,
            "fetchmail: size of message {}",
            i + 1
        );
        assert!(got == bytes, "fetchmail: message {}: {}", i + 1, show(got));
    }
    let idfile = std::fs::read_to_string(&ids).unwrap_or_default();
    let uidls: Vec<&str> = idfile
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, u)| u))
        .collect();
    let want: Vec<&str> = expected.iter().map(|(u, _, _)| u.as_str()).collect();
    assert_eq!(uidls, want, "fetchmail: UIDLs seen");
    // The second run finds nothing new: fetchmail's exit code 1 is "no mail".
    let second = run_client(cmd(), tmp, "fetchmail (second run)");
    assert_eq!(second.code(), Some(1), "fetchmail: second run");
    assert_eq!(
        delivered(&out).len(),
        expected.len(),
        "fetchmail: second run"
    );
}

fn mpop(bin: &Path, world: &World, serve: &Serve, tmp: &Path) {
    let out = tmp.join("mpop-out");
    std::fs::create_dir_all(&out).unwrap();
    let script = delivery_script(tmp);
    let rc = tmp.join("mpoprc");
    let uidls_file = tmp.join("mpop-uidls");
    let (host, port) = serve.endpoint("pop3");
    let tls = match &serve.ca {
        Some(ca) => format!("tls on\ntls_starttls off\ntls_trust_file {}", ca.display()),
        None => "tls off".to_string(),
    };
    write_private(
        &rc,
        &format!(
            "defaults\n{tls}\nauth user\nkeep on\nreceived_header off\n\
             account test\nhost {host}\nport {port}\nuser {user}\npassword {pass}\n\
             uidls_file {uidls}\ndelivery mda \"{script} {out}\"\n",
            user = world.user,
            pass = world.password,
            uidls = uidls_file.display(),
            script = script.display(),
            out = out.display(),
        ),
    );
    let cmd = || {
        let mut c = Command::new(bin);
        c.arg("-q").arg("-C").arg(&rc).arg("test");
        c
    };
    run_client(cmd(), tmp, "mpop");
    let expected = pop3_expected(world);
    let got = delivered(&out);
    assert_eq!(got.len(), expected.len(), "mpop: message count");
    for (i, ((_, bytes, _), got)) in expected.iter().zip(&got).enumerate() {
        // mpop hands messages on with LF line ends.
        assert!(
            *got == crlf_to_lf(bytes),
            "mpop: message {}: {}",
            i + 1,
            show(got)
        );
    }
    // mpop keeps the UIDLs it has seen sorted, after a header line per account.
    let text = std::fs::read_to_string(&uidls_file).unwrap();
    let mut seen: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.is_empty())
        .collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(|(u, _, _)| u.as_str()).collect();
    want.sort_unstable();
    assert_eq!(seen, want, "mpop: UIDLs seen");
    run_client(cmd(), tmp, "mpop (second run)");
    assert_eq!(delivered(&out).len(), expected.len(), "mpop: second run");
}

/// The messages of one Maildir folder: near UID (from `,U=`) -> bytes.
fn maildir(dir: &Path) -> BTreeMap<u32, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let uid = name
                .split(",U=")
                .nth(1)
                .and_then(|r| r.split([',', ':']).next())
                .and_then(|u| u.parse().ok())
                .unwrap_or_else(|| panic!("mbsync file without a UID: {name}"));
            out.insert(uid, std::fs::read(&path).unwrap());
        }
    }
    out
}

/// mbsync's sync state of a folder: near UID -> far UID.
fn sync_state(dir: &Path) -> BTreeMap<u32, u32> {
    let text = std::fs::read_to_string(dir.join(".mbsyncstate")).unwrap_or_default();
    let mut out = BTreeMap::new();
    // Headers come first, then one "far near flags" line per message after a blank line.
    for l in text.split_once("\n\n").map_or("", |(_, rows)| rows).lines() {
        let mut w = l.split_whitespace();
        if let (Some(far), Some(near)) = (w.next(), w.next())
            && let (Ok(far), Ok(near)) = (far.parse(), near.parse())
        {
            out.insert(near, far);
        }
    }
    out
}

fn without_tuid(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_header = true;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if in_header && line.starts_with(b"X-TUID: ") {
            continue;
        }
        if line == b"\n" {
            in_header = false;
        }
        out.extend_from_slice(line);
    }
    out
}

fn mbsync(bin: &Path, world: &World, serve: &Serve, tmp: &Path) {
    let store = tmp.join("mbsync-out");
    std::fs::create_dir_all(&store).unwrap();
    let rc = tmp.join("mbsyncrc");
    // Host 127.0.0.1 is fine in plain text; over TLS isync matches only names in the
    // certificate, not IP addresses, so it must connect to `localhost`.
    let (host, port) = serve.endpoint("imap");
    let tls = match &serve.ca {
        Some(ca) => format!("SSLType IMAPS\nCertificateFile {}", ca.display()),
        None => "SSLType None".to_string(),
    };
    write_private(
        &rc,
        &format!(
            "IMAPAccount fake\nHost {host}\nPort {port}\nUser {user}\nPass {pass}\n\
             {tls}\nAuthMechs LOGIN\n\nIMAPStore far\nAccount fake\n\n\
             MaildirStore near\nPath {store}/\nInbox {store}/INBOX\nSubFolders Verbatim\n\n\
             Channel c\nFar :far:\nNear :near:\nPatterns *\nCreate Near\nSync Pull\n\
             SyncState *\n",
            user = world.user,
            pass = world.password,
            store = store.display(),
        ),
    );
    let cmd = || {
        let mut c = Command::new(bin);
        c.arg("-q").arg("-c").arg(&rc).arg("c");
        c
    };
    run_client(cmd(), tmp, "mbsync");
    let mut counts = Vec::new();
    for mb in &world.imap.mailboxes {
        let dir = store.join(&mb.name);
        let files = maildir(&dir);
        let state = sync_state(&dir);
        assert_eq!(files.len(), mb.messages.len(), "mbsync: {} count", mb.name);
        for (near, bytes) in &files {
            let far = state
                .get(near)
                .unwrap_or_else(|| panic!("mbsync: {} near UID {near} not in state", mb.name));
            let m = mb
                .messages
                .iter()
                .find(|m| m.uid == *far)
                .unwrap_or_else(|| panic!("mbsync: {} has no UID {far}", mb.name));
            // mbsync stores LF line ends and tags what it copies with an X-TUID line.
            assert!(
                without_tuid(bytes) == crlf_to_lf(&m.full),
                "mbsync: {} UID {far}: {}",
                mb.name,
                show(bytes)
            );
        }
        counts.push(files.len());
    }
    run_client(cmd(), tmp, "mbsync (second run)");
    for (mb, count) in world.imap.mailboxes.iter().zip(counts) {
        let dir = store.join(&mb.name);
        assert_eq!(maildir(&dir).len(), count, "mbsync: {} second run", mb.name);
    }
}

type Client = fn(&Path, &World, &Serve, &Path);

#[test]
fn real_clients_fetch_exactly_what_the_scenario_serves() {
    // (program, Debian package, check)
    let clients: [(&str, &str, Client); 3] = [
        ("fetchmail", "fetchmail", fetchmail),
        ("mpop", "mpop", mpop),
        ("mbsync", "isync", mbsync),
    ];
    let present: Vec<(&str, PathBuf, Client)> = clients
        .iter()
        .filter_map(|(name, package, f)| match installed(name) {
            Some(path) => Some((*name, path, *f)),
            None => {
                eprintln!("skipped: {name} is not installed (apt-get install {package})");
                None
            }
        })
        .collect();
    // Every scenario in plain text, the first over implicit TLS too (POP3S, IMAPS,
    // the CA from --ca-out).
    let runs = SCENARIOS
        .iter()
        .map(|s| (*s, false))
        .chain([(SCENARIOS[0], true)]);
    for (name, tls) in runs {
        let path = root().join("scenarios").join(format!("{name}.yaml"));
        let sc = uidlmap::scenario::load_file(&path).expect("scenario loads");
        let ca_dir = tempfile::tempdir().unwrap();
        let ca = ca_dir.path().join("ca.pem");
        let serve = Serve::start(&path, tls.then_some(ca.as_path()));
        for (client, bin, check) in &present {
            let tmp = tempfile::tempdir().unwrap();
            eprintln!("{name}{}: {client}", if tls { " over TLS" } else { "" });
            check(bin, &sc.world, &serve, tmp.path());
        }
        drop(serve);
        // The --ca-out file outlives serve.
        assert_eq!(ca.exists(), tls, "{name}: CA file after serve");
    }
}

/// `--pop3s-port` and `--imaps-port` choose the implicit-TLS ports, for client
/// configurations written in advance.
#[test]
fn serve_listens_on_the_tls_ports_asked_for() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (pop3s, imaps) = (free(), free());
    let mut child = Command::new(env!("CARGO_BIN_EXE_uidlmap"))
        .arg("serve")
        .arg(root().join("scenarios/basic/identical.yaml"))
        .args(["--tls", "--pop3s-port", &pop3s.to_string()])
        .args(["--imaps-port", &imaps.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value =
        serde_json::from_str(&line.expect("serve prints a line")).unwrap();
    assert_eq!(line["pop3s"], format!("127.0.0.1:{pop3s}"));
    assert_eq!(line["imaps"], format!("127.0.0.1:{imaps}"));
}
