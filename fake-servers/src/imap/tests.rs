//! Tests of the fake IMAP server: imapc's command sequence, every command form, script
//! faults, write shaping, TLS, concurrency and the strict validator.

use super::fetch::parse_set;
use super::mailbox::wildcard_match;
use super::*;
use crate::script::{CommandMatch, Event, FaultAction, Phase, Rule, WorldChange};
use crate::world::ImapView;
use imap_codec::decode::{Decoder, GreetingDecodeError, ResponseDecodeError};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::response::{Data, Response as CResponse, Status as CStatus};
use imap_codec::{GreetingCodec, ResponseCodec};

const T: Duration = Duration::from_secs(10);

fn msg(id: &str, subject: &str, body: &str) -> ImapMessage {
    ImapMessage::honest(
        id,
        format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n{body}").into_bytes(),
    )
}

fn world() -> World {
    let mut inbox = ImapMailbox::new("INBOX", 1795877593);
    inbox.append(msg("m1", "one", "hello\r\n"));
    inbox.append(msg("m2", "two", "second body\r\n"));
    let mut m3 = msg("m3", "three", "x\r\n");
    m3.flags = vec!["\\Seen".into()];
    inbox.append(m3);
    let mut archive = ImapMailbox::new("Archive/2023", 7);
    archive.append(msg("m4", "four", "old\r\n"));
    World {
        user: "alice".into(),
        password: "p \"w\\d".into(),
        imap: ImapView {
            separator: '/',
            mailboxes: vec![inbox, ImapMailbox::new("Sent Items", 9), archive],
        },
        ..Default::default()
    }
}

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(T, self.task)
            .await
            .expect("stops")
            .expect("no panic");
    }
}

async fn start(world: SharedWorld, script: Script, options: ImapOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(serve(listener, world, script, options, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

/// A raw client whose every received response is checked by imap-codec.
struct Raw<S> {
    io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(T, self.io.read(&mut chunk))
            .await
            .expect("server answers in time")
            .expect("read");
        assert!(
            n > 0,
            "server closed; pending {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn greeting(&mut self) -> String {
        loop {
            match GreetingCodec::default().decode(&self.buf) {
                Ok((rest, _)) => {
                    let used = self.buf.len() - rest.len();
                    let g: Vec<u8> = self.buf.drain(..used).collect();
                    return String::from_utf8(g).unwrap();
                }
                Err(GreetingDecodeError::Incomplete) => self.fill().await,
                Err(e) => panic!(
                    "invalid greeting {e:?}: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// One response, validated; SAVEDATE items (unknown to imap-codec) are checked
    /// for shape and cut out before validation.
    async fn response(&mut self) -> (Vec<u8>, CResponse<'static>) {
        loop {
            let (stripped, raw_len) = strip_savedate(&self.buf);
            match ResponseCodec::default().decode(&stripped) {
                Ok((rest, r)) => {
                    let used = raw_len(stripped.len() - rest.len());
                    let r = r.into_static();
                    let raw: Vec<u8> = self.buf.drain(..used).collect();
                    return (raw, r);
                }
                Err(ResponseDecodeError::Incomplete)
                | Err(ResponseDecodeError::LiteralFound { .. }) => {}
                Err(e) => panic!(
                    "imap-codec rejects {e:?}: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            self.fill().await;
        }
    }

    async fn send(&mut self, line: &str) {
        self.io.write_all(line.as_bytes()).await.unwrap();
        self.io.write_all(b"\r\n").await.unwrap();
    }

    /// Sends a command and collects the responses up to its tagged one.
    async fn cmd(&mut self, tag: &str, command: &str) -> Vec<(String, CResponse<'static>)> {
        self.send(&format!("{tag} {command}")).await;
        self.until(tag).await
    }

    async fn until(&mut self, tag: &str) -> Vec<(String, CResponse<'static>)> {
        let mut out = Vec::new();
        loop {
            let (raw, r) = self.response().await;
            let done = matches!(&r, CResponse::Status(CStatus::Tagged(t)) if t.tag.inner() == tag);
            out.push((String::from_utf8_lossy(&raw).into_owned(), r));
            if done {
                return out;
            }
        }
    }

    async fn login(&mut self) {
        let r = self.cmd("L", "LOGIN alice \"p \\\"w\\\\d\"").await;
        assert!(
            r.last().unwrap().0.starts_with("L OK [CAPABILITY "),
            "{r:?}"
        );
    }
}

/// Removes ` SAVEDATE "..."` items (checking their shape) so imap-codec can judge the
/// rest. Returns the stripped bytes and a map from stripped length to raw length.
fn strip_savedate(buf: &[u8]) -> (Vec<u8>, impl Fn(usize) -> usize + use<>) {
    let needle = b" SAVEDATE \"";
    let mut out = Vec::with_capacity(buf.len());
    let mut cuts: Vec<(usize, usize)> = Vec::new(); // (stripped position, bytes cut)
    let mut i = 0;
    while i < buf.len() {
        if buf[i..].starts_with(needle) {
            let start = i + needle.len();
            if let Some(len) = buf[start..].iter().position(|&b| b == b'"') {
                let date = std::str::from_utf8(&buf[start..start + len]).unwrap();
                assert_eq!(date.len(), 26, "SAVEDATE shape: {date}");
                cuts.push((out.len(), needle.len() + len + 1));
                i = start + len + 1;
                continue;
            }
        }
        out.push(buf[i]);
        i += 1;
    }
    let map = move |stripped: usize| {
        stripped
            + cuts
                .iter()
                .filter(|(at, _)| *at < stripped)
                .map(|(_, n)| n)
                .sum::<usize>()
    };
    (out, map)
}

async fn connect(addr: std::net::SocketAddr) -> Raw<TcpStream> {
    let io = tokio::time::timeout(T, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    Raw {
        io,
        buf: Vec::new(),
    }
}

fn lines(r: &[(String, CResponse<'static>)]) -> Vec<String> {
    r.iter()
        .map(|(raw, _)| raw.trim_end().to_string())
        .collect()
}

#[tokio::test]
async fn imapc_sequence_docs_profile() {
    tokio::time::timeout(T, async {
        let script = Script::default();
        let server = start(SharedWorld::new(world()), script.clone(), ImapOptions {
            capabilities: Capabilities { savedate: true, ..Default::default() },
            ..Default::default()
        })
        .await;
        let mut c = connect(server.addr).await;
        let g = c.greeting().await;
        assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE LITERAL+ NAMESPACE SAVEDATE AUTH=PLAIN]"), "{g}");
        let r = c.cmd("1", "LOGIN \"alice\" \"p \\\"w\\\\d\"").await;
        assert!(lines(&r)[0].starts_with("1 OK [CAPABILITY IMAP4rev1"));
        assert_eq!(lines(&c.cmd("2", "LIST \"\" \"\"").await), ["* LIST (\\Noselect) \"/\" \"\"", "2 OK List completed."]);
        assert_eq!(
            lines(&c.cmd("3", "LIST \"\" \"*\"").await),
            [
                "* LIST (\\HasNoChildren) \"/\" INBOX",
                "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"",
                "* LIST (\\Noselect \\HasChildren) \"/\" Archive",
                "* LIST (\\HasNoChildren) \"/\" Archive/2023",
                "3 OK List completed.",
            ]
        );
        assert_eq!(
            lines(&c.cmd("4", "STATUS \"INBOX\" (UIDNEXT UIDVALIDITY)").await),
            ["* STATUS INBOX (UIDNEXT 4 UIDVALIDITY 1795877593)", "4 OK Status completed."]
        );
        assert_eq!(
            lines(&c.cmd("5", "LSUB \"\" \"*\"").await),
            [
                "* LSUB () \"/\" INBOX",
                "* LSUB () \"/\" \"Sent Items\"",
                "* LSUB () \"/\" Archive/2023",
                "5 OK Lsub completed.",
            ]
        );
        assert_eq!(
            lines(&c.cmd("7", "EXAMINE \"INBOX\"").await),
            [
                "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
                "* OK [PERMANENTFLAGS ()] Read-only mailbox.",
                "* 3 EXISTS",
                "* 0 RECENT",
                "* OK [UIDVALIDITY 1795877593] UIDs valid",
                "* OK [UIDNEXT 4] Predicted next UID",
                "7 OK [READ-ONLY] Examine completed.",
            ]
        );
        assert_eq!(
            lines(&c.cmd("8", "UID FETCH 1:* (FLAGS)").await),
            [
                "* 1 FETCH (UID 1 FLAGS ())",
                "* 2 FETCH (UID 2 FLAGS ())",
                "* 3 FETCH (UID 3 FLAGS (\\Seen))",
                "8 OK Fetch completed.",
            ]
        );
        assert_eq!(
            lines(&c.cmd("9", "UID FETCH 1,2,3 (RFC822.SIZE)").await),
            [
                "* 1 FETCH (UID 1 RFC822.SIZE 44)",
                "* 2 FETCH (UID 2 RFC822.SIZE 50)",
                "* 3 FETCH (UID 3 RFC822.SIZE 42)",
                "9 OK Fetch completed.",
            ]
        );
        let r = c.cmd("10", "UID FETCH 1,2,3 (BODY.PEEK[HEADER])").await;
        assert_eq!(r[0].0, "* 1 FETCH (UID 1 BODY[HEADER] {37}\r\nFrom: a@example.org\r\nSubject: one\r\n\r\n)\r\n");
        let r = c.cmd("11", "UID FETCH 1,2,3 (INTERNALDATE SAVEDATE BODY.PEEK[])").await;
        assert_eq!(
            r[1].0,
            "* 2 FETCH (UID 2 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" SAVEDATE \"01-Jan-2024 00:00:00 +0000\" \
                 BODY[] {50}\r\nFrom: a@example.org\r\nSubject: two\r\n\r\nsecond body\r\n)\r\n"
        );
        let r = c.cmd("12", "LOGOUT").await;
        assert_eq!(lines(&r), ["* BYE Logging out", "12 OK Logout completed."]);
        let log: Vec<String> = script.log().into_iter().map(|e| e.command).collect();
        assert_eq!(log[0], "LOGIN \"alice\" ***");
        assert_eq!(log[5], "EXAMINE \"INBOX\"");
        assert_eq!(log[7], "UID FETCH 1,2,3 (RFC822.SIZE)");
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn greeting_without_capability_and_capability_command() {
    tokio::time::timeout(T, async {
        let server = start(
            SharedWorld::new(world()),
            Script::default(),
            ImapOptions {
                greeting_capability: false,
                capabilities: Capabilities {
                    literal_plus: false,
                    sasl_ir: false,
                    id: false,
                    enable: false,
                    namespace: false,
                    extra: vec!["X-GM-EXT-1".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await;
        let mut c = connect(server.addr).await;
        assert_eq!(
            c.greeting().await,
            "* OK uidlmap fake IMAP server ready.\r\n"
        );
        assert_eq!(
            lines(&c.cmd("a", "CAPABILITY").await)[0],
            "* CAPABILITY IMAP4rev1 AUTH=PLAIN X-GM-EXT-1"
        );
        assert!(lines(&c.cmd("b", "ID NIL").await)[0].starts_with("b BAD"));
        // A synchronising literal gets its continuation.
        c.send("c LOGIN {5}").await;
        let (raw, _) = c.response().await;
        assert_eq!(raw, b"+ OK\r\n");
        c.io.write_all(b"alice {6}\r\n").await.unwrap();
        let (raw, _) = c.response().await;
        assert_eq!(raw, b"+ OK\r\n");
        c.io.write_all(b"p \"w\\d\r\n").await.unwrap();
        assert!(lines(&c.until("c").await)[0].starts_with("c OK [CAPABILITY"));
        assert!(lines(&c.cmd("d", "NAMESPACE").await)[0].starts_with("d BAD"));
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn literal_plus_authenticate_and_extensions() {
    tokio::time::timeout(T, async {
        let server = start(
            SharedWorld::new(world()),
            Script::default(),
            ImapOptions::default(),
        )
        .await;
        let mut c = connect(server.addr).await;
        c.greeting().await;
        assert!(
            lines(&c.cmd("a", "AUTHENTICATE PLAIN AGFsaWNlAHdyb25n").await)[0]
                .starts_with("a NO [AUTHENTICATIONFAILED]")
        );
        // Without an initial response: continuation, then the response line.
        c.send("b AUTHENTICATE PLAIN").await;
        let (raw, _) = c.response().await;
        assert_eq!(raw, b"+ \r\n");
        c.send(&base64::engine::general_purpose::STANDARD.encode(b"\0alice\0p \"w\\d"))
            .await;
        assert!(lines(&c.until("b").await)[0].starts_with("b OK [CAPABILITY"));
        assert_eq!(
            lines(&c.cmd("c", "ID (\"name\" \"test\")").await)[0],
            "* ID (\"name\" \"uidlmap-fake-servers\")"
        );
        assert_eq!(lines(&c.cmd("d", "ENABLE CONDSTORE").await)[0], "* ENABLED");
        assert_eq!(
            lines(&c.cmd("e", "NAMESPACE").await)[0],
            "* NAMESPACE ((\"\" \"/\")) NIL NIL"
        );
        // LITERAL+: no continuation, the literal follows at once.
        c.io.write_all(b"f EXAMINE {5+}\r\ninbox\r\n")
            .await
            .unwrap();
        assert!(
            lines(&c.until("f").await)
                .last()
                .unwrap()
                .starts_with("f OK [READ-ONLY]")
        );
        assert_eq!(
            lines(&c.cmd("g", "UID SEARCH ALL").await)[0],
            "* SEARCH 1 2 3"
        );
        assert_eq!(lines(&c.cmd("h", "SEARCH ALL").await)[0], "* SEARCH 1 2 3");
        assert_eq!(lines(&c.cmd("i", "NOOP").await), ["i OK NOOP completed."]);
        assert_eq!(lines(&c.cmd("j", "CHECK").await), ["j OK Check completed."]);
        assert!(lines(&c.cmd("k", "STORE 1 +FLAGS (\\Deleted)").await)[0].starts_with("k BAD"));
        assert!(lines(&c.cmd("l", "UID FETCH 1 (ENVELOPE)").await)[0].starts_with("l BAD"));
        assert!(
            lines(&c.cmd("m", "UID FETCH 1 (SAVEDATE)").await)[0].starts_with("m BAD"),
            "not advertised"
        );
        assert!(
            lines(&c.cmd("n", "FETCH 4 (UID)").await)[0].starts_with("n BAD"),
            "beyond EXISTS"
        );
        assert_eq!(lines(&c.cmd("o", "CLOSE").await), ["o OK Close completed."]);
        assert!(lines(&c.cmd("p", "FETCH 1 (UID)").await)[0].starts_with("p BAD"));
        assert!(lines(&c.cmd("q", "EXAMINE Nowhere").await)[0].starts_with("q NO [NONEXISTENT]"));
        assert!(
            lines(&c.cmd("r", "STATUS INBOX (MESSAGES UNSEEN RECENT)").await)[0]
                == "* STATUS INBOX (MESSAGES 3 UNSEEN 2 RECENT 0)"
        );
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn fetch_forms_and_sets() {
    tokio::time::timeout(T, async {
        let mut w = world();
        // A provider quirk: BODY[HEADER] differs from the header inside BODY[], and
        // RFC822.SIZE lies.
        w.imap.mailboxes[0].messages[1].header = b"Subject: two\r\n\r\n".to_vec();
        w.imap.mailboxes[0].messages[1].rfc822_size = Some(999);
        let server = start(SharedWorld::new(w), Script::default(), ImapOptions::default()).await;
        let mut c = connect(server.addr).await;
        c.greeting().await;
        c.login().await;
        c.cmd("s", "SELECT INBOX").await;
        assert_eq!(
            lines(&c.cmd("a", "UID FETCH 3:2 (RFC822.SIZE)").await),
            ["* 2 FETCH (UID 2 RFC822.SIZE 999)", "* 3 FETCH (UID 3 RFC822.SIZE 42)", "a OK Fetch completed."]
        );
        assert_eq!(
            lines(&c.cmd("b", "UID FETCH 9:* UID").await),
            ["* 3 FETCH (UID 3)", "b OK Fetch completed."],
            "n:* includes the last message even when n is larger"
        );
        assert_eq!(
            lines(&c.cmd("c", "FETCH 2,* (FLAGS)").await),
            ["* 2 FETCH (UID 2 FLAGS ())", "* 3 FETCH (UID 3 FLAGS (\\Seen))", "c OK Fetch completed."]
        );
        let r = c.cmd("d", "UID FETCH 2 (BODY[HEADER] BODY.PEEK[TEXT] RFC822.HEADER)").await;
        assert_eq!(r[0].0, "* 2 FETCH (UID 2 BODY[HEADER] {16}\r\nSubject: two\r\n\r\n BODY[TEXT] {13}\r\nsecond body\r\n RFC822.HEADER {16}\r\nSubject: two\r\n\r\n)\r\n");
        let r = c.cmd("e", "UID FETCH 1 (BODY.PEEK[]<6.9>)").await;
        assert_eq!(r[0].0, "* 1 FETCH (UID 1 BODY[]<6> {9}\r\na@example)\r\n");
        assert_eq!(lines(&c.cmd("f", "UID FETCH 4:10 (UID)").await), ["f OK Fetch completed."]);
        assert_eq!(lines(&c.cmd("g", "UID FETCH 1 FAST").await)[0], "* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" RFC822.SIZE 44)");
        assert!(lines(&c.cmd("h", "UID FETCH 0 (UID)").await)[0].starts_with("h BAD"));
        assert!(lines(&c.cmd("i", "UID FETCH x (UID)").await)[0].starts_with("i BAD"));
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn world_changes_reach_the_session_before_the_tagged_reply() {
    tokio::time::timeout(T, async {
        let world = SharedWorld::new(world());
        let script = Script::new(
            vec![],
            vec![Event {
                on: CommandMatch {
                    protocol: Some(Protocol::Imap),
                    contains: Some("RFC822.SIZE".into()),
                    ..Default::default()
                },
                phase: Phase::After,
                nth: 1,
                changes: vec![
                    WorldChange::ImapExpunge { id: "m1".into() },
                    WorldChange::ImapExpunge { id: "m3".into() },
                    WorldChange::ImapDeliver {
                        mailbox: "INBOX".into(),
                        message: msg("m5", "five", "new\r\n"),
                    },
                ],
            }],
        );
        let server = start(world.clone(), script, ImapOptions::default()).await;
        let mut c = connect(server.addr).await;
        c.greeting().await;
        c.login().await;
        c.cmd("s", "EXAMINE INBOX").await;
        c.cmd("a", "UID FETCH 1:* (RFC822.SIZE)").await;
        // A second session sees the world as it is now.
        let mut other = connect(server.addr).await;
        other.greeting().await;
        other.login().await;
        assert_eq!(
            lines(&other.cmd("x", "EXAMINE INBOX").await)[2],
            "* 2 EXISTS"
        );
        // Plain FETCH must not announce EXPUNGE; EXISTS is fine.
        // UID 1 is gone but not yet reported: it gets no reply.
        assert_eq!(
            lines(&c.cmd("b", "FETCH 1 (UID)").await),
            ["* 4 EXISTS", "b OK Fetch completed."]
        );
        assert_eq!(
            lines(&c.cmd("c", "UID FETCH 1:* (UID)").await),
            [
                "* 1 EXPUNGE",
                "* 2 EXPUNGE",
                "* 1 FETCH (UID 2)",
                "* 2 FETCH (UID 4)",
                "c OK Fetch completed."
            ]
        );
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn script_faults() {
    tokio::time::timeout(T, async {
        let rule = |prefix: &str, action: FaultAction| Rule {
            on: CommandMatch::prefix(Protocol::Imap, prefix),
            action,
            skip: 0,
            times: Some(1),
        };
        let script = Script::new(
            vec![
                rule(
                    "NOOP",
                    FaultAction::Reply(
                        b"* OK [ALERT] hi\r\n{tag} NO [UNAVAILABLE] try later\r\n".to_vec(),
                    ),
                ),
                rule("CHECK", FaultAction::Delay(Duration::from_millis(50))),
                rule("UID FETCH", FaultAction::Truncate(20)),
            ],
            vec![],
        );
        let server = start(SharedWorld::new(world()), script, ImapOptions::default()).await;
        let mut c = connect(server.addr).await;
        c.greeting().await;
        c.login().await;
        assert_eq!(
            lines(&c.cmd("n1", "NOOP").await),
            ["* OK [ALERT] hi", "n1 NO [UNAVAILABLE] try later"]
        );
        assert_eq!(
            lines(&c.cmd("n2", "NOOP").await),
            ["n2 OK NOOP completed."],
            "the rule applied once"
        );
        c.cmd("s", "EXAMINE INBOX").await;
        let t0 = std::time::Instant::now();
        c.cmd("k", "CHECK").await;
        assert!(t0.elapsed() >= Duration::from_millis(50));
        c.send("f UID FETCH 1 (BODY.PEEK[])").await;
        let mut got = Vec::new();
        let n = tokio::time::timeout(T, c.io.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 20);
        assert_eq!(got, b"* 1 FETCH (UID 1 BOD");
        server.stop().await;

        let script = Script::new(vec![rule("LOGIN", FaultAction::Disconnect)], vec![]);
        let server = start(SharedWorld::new(world()), script, ImapOptions::default()).await;
        let mut c = connect(server.addr).await;
        c.greeting().await;
        c.send("a LOGIN alice x").await;
        let mut got = Vec::new();
        tokio::time::timeout(T, c.io.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert!(got.is_empty());
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn write_shaping_and_bare_lf() {
    tokio::time::timeout(T, async {
        let server = start(SharedWorld::new(world()), Script::default(), ImapOptions {
            write_chunk: Some(3),
            bare_lf: true,
            ..Default::default()
        })
        .await;
        let mut c = connect(server.addr).await;
        let mut all = Vec::new();
        c.io.write_all(b"a LOGIN alice \"p \\\"w\\\\d\"\r\nb EXAMINE INBOX\r\nc UID FETCH 1 (BODY.PEEK[])\r\nd LOGOUT\r\n").await.unwrap();
        tokio::time::timeout(T, c.io.read_to_end(&mut all)).await.unwrap().unwrap();
        let text = String::from_utf8(all).unwrap();
        // Protocol lines end in LF; the literal keeps its CRLFs.
        assert!(text.contains("c OK Fetch completed.\nd OK") || text.contains("c OK Fetch completed.\n* BYE"));
        assert!(text.contains("BODY[] {44}\nFrom: a@example.org\r\nSubject: one\r\n\r\nhello\r\n)\n"), "{text}");
        assert!(!text.replace("\r\n", "").contains('\r'));
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn starttls_and_implicit_tls() {
    tokio::time::timeout(T, async {
        let ca = TestCa::generate().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

        let server = start(
            SharedWorld::new(world()),
            Script::default(),
            ImapOptions {
                tls: TlsMode::StartTls(ca.clone()),
                ..Default::default()
            },
        )
        .await;
        let mut c = connect(server.addr).await;
        assert!(c.greeting().await.contains(" STARTTLS "));
        assert!(lines(&c.cmd("a", "LOGIN alice x").await)[0].starts_with("a NO"));
        assert_eq!(
            lines(&c.cmd("b", "STARTTLS").await),
            ["b OK Begin TLS negotiation now."]
        );
        let tls = connector
            .connect(name.clone(), c.io)
            .await
            .expect("handshake");
        let mut t = Raw {
            io: tls,
            buf: Vec::new(),
        };
        let caps = lines(&t.cmd("c", "CAPABILITY").await);
        assert!(!caps[0].contains("STARTTLS"), "{caps:?}");
        t.login().await;
        assert!(lines(&t.cmd("d", "STARTTLS").await)[0].starts_with("d BAD"));
        server.stop().await;

        let server = start(
            SharedWorld::new(world()),
            Script::default(),
            ImapOptions {
                tls: TlsMode::Implicit(ca.clone()),
                ..Default::default()
            },
        )
        .await;
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let tls = connector.connect(name, tcp).await.expect("handshake");
        let mut t = Raw {
            io: tls,
            buf: Vec::new(),
        };
        let g = t.greeting().await;
        assert!(!g.contains("STARTTLS"), "{g}");
        t.login().await;
        assert!(lines(&t.cmd("e", "STARTTLS").await)[0].starts_with("e NO"));
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[tokio::test]
async fn concurrent_sessions_and_garbage() {
    tokio::time::timeout(T, async {
        let script = Script::default();
        let server = start(
            SharedWorld::new(world()),
            script.clone(),
            ImapOptions::default(),
        )
        .await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let addr = server.addr;
            tasks.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                c.greeting().await;
                c.login().await;
                c.cmd("s", "EXAMINE INBOX").await;
                let r = c
                    .cmd("f", "UID FETCH 1:* (RFC822.SIZE BODY.PEEK[HEADER])")
                    .await;
                assert_eq!(r.len(), 4);
                c.cmd("z", "LOGOUT").await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(script.session_count(Protocol::Imap), 8);
        let mut c = connect(server.addr).await;
        c.greeting().await;
        c.send("\"unterminated").await;
        let (raw, _) = c.response().await;
        assert!(raw.starts_with(b"* BAD"));
        assert!(lines(&c.cmd("a", "FROBNICATE").await)[0].starts_with("a BAD"));
        assert!(
            lines(&c.cmd("b", "SELECT INBOX").await)[0].starts_with("b BAD"),
            "before login"
        );
        server.stop().await;
    })
    .await
    .expect("no hang");
}

#[test]
fn wildcard_table() {
    let cases = [
        ("*", "a/b/c", true),
        ("%", "a/b", false),
        ("%", "a", true),
        ("a/%", "a/b", true),
        ("a/%", "a/b/c", false),
        ("a/*", "a/b/c", true),
        ("a*c", "abc", true),
        ("a%c", "a/c", false),
        ("INBOX", "INBOX", true),
        ("", "x", false),
        ("**%*", "x/y", true),
        ("%/%", "x/y", true),
    ];
    for (p, n, want) in cases {
        assert_eq!(wildcard_match(p, n, '/'), want, "{p} {n}");
    }
}

#[test]
fn sets_and_tokens() {
    let s = parse_set("1:3,7,9:*").unwrap();
    assert_eq!(
        s,
        vec![(Some(1), Some(3)), (Some(7), Some(7)), (Some(9), None)]
    );
    assert!(parse_set("0").is_none() && parse_set("1:").is_none() && parse_set("+1").is_none());
    let mut toks = Vec::new();
    tokenize(
        b"UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] \"q\\\"x\")",
        &mut toks,
    )
    .unwrap();
    assert_eq!(toks[3], Tok::Open);
    assert_eq!(toks[4], Tok::Atom("BODY.PEEK[HEADER.FIELDS (A B)]".into()));
    assert_eq!(toks[5], Tok::Str(b"q\"x".to_vec()));
    assert_eq!(
        shown(&toks),
        "UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)] \"q\\\"x\")"
    );
    let mut toks = Vec::new();
    tokenize(b"AUTHENTICATE PLAIN AGFsaWNl", &mut toks).unwrap();
    assert_eq!(shown(&toks), "AUTHENTICATE PLAIN ***");
    assert_eq!(replace_tag(b"{tag} OK {tag}", "A7"), b"A7 OK A7");
    assert_eq!(literal_at_end(b"LOGIN {12}"), Some((12, false)));
    assert_eq!(literal_at_end(b"LOGIN {12+}"), Some((12, true)));
    assert_eq!(literal_at_end(b"LOGIN {}"), None);
}

#[test]
fn the_validator_is_strict() {
    // The checks above mean something only if imap-codec rejects what is wrong.
    let r = ResponseCodec::default()
        .decode(b"* LIST () \"/\" INBOX\r\n")
        .unwrap()
        .1;
    assert!(matches!(r, CResponse::Data(Data::List { .. })));
    for bad in [
        &b"* 1 FETCH (UID 0)\r\n"[..],
        b"a1 OK\r\n",
        b"* 1 FETCH (BODY[HEADER] {3}\r\nab)\r\n",
        b"* LIST (\\Noselect) / INBOX\r\n",
        b"* 1 FETCH (UID 1 SAVEDATE \"x\")\r\n",
    ] {
        assert!(
            !matches!(ResponseCodec::default().decode(bad), Ok((b"", _))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}
