//! Real transcripts for the seeds: our POP3 and IMAP clients run a full read against the
//! fake servers through a stream that records both directions. The same client sessions
//! are then replayed against mutated server bytes (`clients.rs`), and the recorded
//! command bytes seed the fake servers' command parsers (`servers.rs`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use fake_servers::Script;
use fake_servers::imap::ImapOptions;
use fake_servers::pop3::{Pop3Caps, Pop3Options, WriteShaping};
use fake_servers::world::{ImapMailbox, ImapMessage, ImapView, Pop3Message, SharedWorld, World};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use uidlmap::imap::{Batching, ImapClient};
use uidlmap::pop3::Pop3Client;
use uidlmap::secret::Secret;

/// Starts an event that is a broken invariant rather than an outcome.
pub const VIOLATION: &str = "VIOLATION";

pub const USER: &str = "alice";
pub const PASSWORD: &str = "pw \"q\" \\";

fn message(i: usize) -> Vec<u8> {
    let odd: &[u8] = match i % 4 {
        0 => b"From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n.dot line\r\n",
        1 => b"From: b@example.org\nSubject: two\n\tfolded\n\nbare lf body\n",
        2 => b"Subject: three\r\nX-UID: 7\r\n\r\nno newline at end",
        _ => b"Subject: \xc3\xa9 four\r\nX: header only\r\n",
    };
    let mut m = odd.to_vec();
    m.extend_from_slice(format!("Message-ID: <{i}@example.org>\r\n").as_bytes());
    m
}

/// Four messages in both views, with odd line ends, a dot line and no blank line.
pub fn world() -> World {
    let mut inbox = ImapMailbox::new("INBOX", 4242);
    let mut w = World {
        user: USER.into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    for i in 0..4 {
        inbox.append(ImapMessage::honest(format!("m{i}"), message(i)));
        let uidl = ["UID1-abc", "  lead", "tab\there ", ""][i];
        w.pop3
            .messages
            .push(Pop3Message::honest(format!("m{i}"), uidl, message(i)));
    }
    w.imap = ImapView {
        separator: '.',
        mailboxes: vec![inbox, ImapMailbox::new("Archive", 7)],
    };
    w
}

/// A stream that records what it reads and writes.
pub struct Recorder<S> {
    pub inner: S,
    pub read: Arc<Mutex<Vec<u8>>>,
    pub written: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        me.read
            .lock()
            .unwrap()
            .extend_from_slice(&buf.filled()[before..]);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write(cx, b);
        if let Poll::Ready(Ok(n)) = r {
            me.written.lock().unwrap().extend_from_slice(&b[..n]);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

pub fn pop3_timeouts() -> uidlmap::pop3::Timeouts {
    uidlmap::pop3::Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(5),
    }
}

pub fn imap_timeouts() -> uidlmap::imap::Timeouts {
    uidlmap::imap::Timeouts {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(5),
    }
}

/// Small bounds, so that mutants reach them with inputs of a few KiB.
pub fn pop3_limits() -> uidlmap::pop3::Limits {
    uidlmap::pop3::Limits {
        max_line: 1024,
        max_message_line: 4096,
        max_block: 16 * 1024,
        max_messages: 200,
    }
}

pub fn imap_limits() -> uidlmap::imap::Limits {
    uidlmap::imap::Limits {
        codec: uidlmap::imap::codec::CodecLimits {
            max_line: 2048,
            max_literal: 16 * 1024,
            max_response: 32 * 1024,
            max_depth: 8,
        },
        max_untagged: 500,
    }
}

/// A whole POP3 read as verify makes it; what each step returned, as text. Stops at the
/// first error.
pub async fn pop3_session<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = match Pop3Client::greet(stream, pop3_timeouts(), pop3_limits()).await {
        Ok(c) => c,
        Err(e) => return vec![format!("greet: {e}")],
    };
    out.push(format!(
        "greeting {:?} apop {:?}",
        c.greeting(),
        c.apop_timestamp()
    ));
    macro_rules! step {
        ($name:literal, $e:expr) => {
            match $e {
                Ok(v) => {
                    out.push(format!("{}: {:?}", $name, v));
                    v
                }
                Err(e) => {
                    out.push(format!("{}: error {e}", $name));
                    return out;
                }
            }
        };
    }
    step!("capa", c.capa().await.cloned());
    step!("login", c.login(USER, &Secret::new(PASSWORD)).await);
    let (count, _) = step!("stat", c.stat().await);
    let uidls = step!("uidl", c.uidl_all().await);
    step!("list", c.list_all(Some(uidls.len())).await);
    let numbers: Vec<u32> = (1..=count.min(50)).collect();
    let mut got = Vec::new();
    step!(
        "headers",
        c.fetch_headers_each(&numbers, |n, f| got.push((n, f)))
            .await
    );
    let max_block = pop3_limits().max_block;
    if uidls.len() > pop3_limits().max_messages
        || got
            .iter()
            .any(|(_, f)| f.bytes().is_some_and(|b| b.len() > max_block))
    {
        out.push(format!("{VIOLATION}: a listing or block passed its bound"));
    }
    out.push(format!("fetched {got:?}"));
    step!("retr", c.retr(1).await);
    step!("quit", c.quit().await);
    out
}

/// A whole IMAP read as verify makes it, pipelined; stops at the first error.
pub async fn imap_session<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = match ImapClient::greet(stream, imap_timeouts(), imap_limits()).await {
        Ok(c) => c,
        Err(e) => return vec![format!("greet: {e}")],
    };
    out.push(format!("greeting {:?}", c.greeting()));
    macro_rules! step {
        ($name:literal, $e:expr) => {
            match $e {
                Ok(v) => {
                    out.push(format!("{}: {:?}", $name, v));
                    v
                }
                Err(e) => {
                    out.push(format!("{}: error {e}", $name));
                    return out;
                }
            }
        };
    }
    step!("caps", c.capabilities().await);
    step!("login", c.login(USER, &Secret::new(PASSWORD)).await);
    step!("list", c.list().await);
    step!("examine", c.examine("INBOX").await);
    let listed = step!("sizes", c.uid_sizes().await);
    let uids: Vec<u32> = listed.iter().map(|l| l.uid).take(50).collect();
    step!("flags", c.uid_flags().await);
    step!(
        "fetch sizes",
        c.fetch_sizes(&uids, Batching::DOVECOT_DOCS).await
    );
    let mut got = Vec::new();
    step!(
        "headers",
        c.fetch_headers_each(&uids, Batching::PIPELINED, |u, b| got.push((u, b)))
            .await
    );
    let max_literal = imap_limits().codec.max_literal;
    if got.iter().any(|(_, b)| b.len() > max_literal) {
        out.push(format!("{VIOLATION}: a header passed the literal bound"));
    }
    out.push(format!("headers {got:?}"));
    let mut full = Vec::new();
    step!(
        "full",
        c.fetch_full_each(&uids, Batching::DOVECOT_BARE, |u, b| full.push((u, b)))
            .await
    );
    if full.iter().any(|(_, b)| b.len() > max_literal) {
        out.push(format!("{VIOLATION}: a message passed the literal bound"));
    }
    out.push(format!("full {full:?}"));
    // Bytes received depend on how reads were cut (the last read may take bytes past
    // the final reply), so they are left out of the comparison.
    step!(
        "logout",
        c.logout()
            .await
            .map(|s| (s.commands, s.round_trips, s.bytes_sent))
    );
    out
}

/// One recorded session: what the server sent and what the client sent.
pub struct Transcript {
    pub from_server: Vec<u8>,
    pub from_client: Vec<u8>,
}

async fn record<F, Fut>(addr: std::net::SocketAddr, session: F) -> Transcript
where
    F: FnOnce(Recorder<TcpStream>) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let tcp = TcpStream::connect(addr).await.expect("fake server accepts");
    let rec = Recorder {
        inner: tcp,
        read: Arc::default(),
        written: Arc::default(),
    };
    let (read, written) = (rec.read.clone(), rec.written.clone());
    let events = session(rec).await;
    assert!(
        events.iter().all(|e| !e.contains(": error")),
        "seed session failed: {events:?}"
    );
    let from_server = read.lock().unwrap().clone();
    let from_client = written.lock().unwrap().clone();
    Transcript {
        from_server,
        from_client,
    }
}

/// POP3 sessions against a few server shapes: everything on, no TOP (RETR instead), APOP
/// and bare LF line ends.
pub async fn pop3_transcripts() -> Vec<Transcript> {
    let shapes = [
        Pop3Options::default(),
        Pop3Options {
            caps: Pop3Caps {
                top: false,
                pipelining: false,
                ..Pop3Caps::default()
            },
            ..Pop3Options::default()
        },
        Pop3Options {
            apop: true,
            shaping: WriteShaping {
                bare_lf: true,
                ..WriteShaping::default()
            },
            ..Pop3Options::default()
        },
    ];
    let mut out = Vec::new();
    for options in shapes {
        let world = SharedWorld::new(world());
        let server = fake_servers::pop3::spawn_local(world, Script::default(), options)
            .await
            .expect("binds 127.0.0.1");
        out.push(record(server.addr, pop3_session).await);
        server.stop().await;
    }
    out
}

/// A fake IMAP server on 127.0.0.1:0; the sender stops it.
pub async fn spawn_imap(
    world: SharedWorld,
    options: ImapOptions,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("bound");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(fake_servers::imap::serve(
        listener,
        world,
        Script::default(),
        options,
        async {
            let _ = rx.await;
        },
    ));
    (addr, tx, task)
}

/// IMAP sessions: Dovecot-like, and bare LF without capabilities in the greeting.
pub async fn imap_transcripts() -> Vec<Transcript> {
    let shapes = [
        ImapOptions::default(),
        ImapOptions {
            greeting_capability: false,
            bare_lf: true,
            uidnext_on_select: false,
            ..ImapOptions::default()
        },
    ];
    let mut out = Vec::new();
    for options in shapes {
        let (addr, stop, task) = spawn_imap(SharedWorld::new(world()), options).await;
        out.push(record(addr, imap_session).await);
        let _ = stop.send(());
        let _ = task.await;
    }
    out
}

/// Runs `f` on a fresh current-thread runtime (seed recording happens once per harness).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
