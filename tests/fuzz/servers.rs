//! The fake servers' command parsers on mutated client bytes, over real sockets on
//! 127.0.0.1: each input is one session against a fresh server (so `DELE`/`QUIT` cannot
//! empty the world for the next). The client sends the whole input, closes its sending
//! half and reads everything back; the session must end within a bound, no server task
//! may panic, and the server must stop cleanly.

use std::sync::Mutex;
use std::time::Duration;

use fake_servers::Script;
use fake_servers::imap::ImapOptions;
use fake_servers::pop3::Pop3Options;
use fake_servers::world::SharedWorld;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mutate::Rng;
use crate::runner::{Check, Harness};
use crate::sessions;

static SERVER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Called by the panic hook for panics on the servers' runtime threads.
pub fn record_server_panic(msg: String) {
    if let Ok(mut p) = SERVER_PANICS.lock() {
        p.push(msg);
    }
}

fn take_panics() -> Vec<String> {
    SERVER_PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

/// Most heap the server's threads may hold at once for one session, beyond 256 bytes
/// per input byte.
const SERVER_MEM: usize = 16 << 20;
/// How long a session may take after the client has sent everything and closed.
const SESSION: Duration = Duration::from_secs(10);
/// The most reply bytes read back; a session that keeps writing past it is a flood.
const MAX_REPLY: usize = 8 << 20;

/// Sends `input` after the greeting, half-closes, reads to EOF.
async fn exchange(addr: std::net::SocketAddr, input: &[u8]) -> Result<usize, String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut buf = vec![0u8; 16 * 1024];
    let n = tcp
        .read(&mut buf)
        .await
        .map_err(|e| format!("greeting: {e}"))?;
    if n == 0 {
        return Err("no greeting".into());
    }
    // Write and read at once, so a server answering a long pipeline never blocks on a
    // full socket while we are still writing.
    let (mut rd, mut wr) = tcp.split();
    let write = async {
        let _ = wr.write_all(input).await;
        let _ = wr.shutdown().await;
    };
    let read = async {
        let mut total = 0usize;
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(total),
                Ok(n) => total += n,
            }
            if total > MAX_REPLY {
                return Err(format!("more than {MAX_REPLY} reply bytes"));
            }
        }
    };
    let (_, got) = tokio::join!(write, read);
    got
}

fn check_with(
    start: fn(
        SharedWorld,
        &mut Rng,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Server>>>,
) -> Check {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fuzz-srv")
        .on_thread_start(crate::alloc::track_shared)
        .enable_all()
        .build()
        .expect("runtime");
    Box::new(move |input: &[u8], rng: &mut Rng| {
        take_panics();
        let base = crate::alloc::shared_begin();
        let result = rt.block_on(async {
            let server = start(SharedWorld::new(sessions::world()), rng).await;
            let got = tokio::time::timeout(SESSION, exchange(server.addr, input)).await;
            let stopped = tokio::time::timeout(SESSION, server.stop()).await;
            match (got, stopped) {
                (Err(_), _) => Err("the session did not end after the client closed".to_string()),
                (Ok(Err(e)), _) => Err(e),
                (_, Err(_)) => Err("the server did not stop".to_string()),
                (_, Ok(Err(e))) => Err(e),
                (Ok(Ok(_)), Ok(Ok(()))) => Ok(()),
            }
        });
        let held = crate::alloc::shared_peak_since(base);
        let limit = SERVER_MEM + 256 * input.len();
        if held > limit {
            return Err(format!("the server held {held} bytes (limit {limit})"));
        }
        let panics = take_panics();
        if !panics.is_empty() {
            return Err(format!("server panicked: {}", panics.join(" | ")));
        }
        result
    })
}

/// A running server and how to stop it.
pub struct Server {
    addr: std::net::SocketAddr,
    stop: Box<
        dyn FnOnce() -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<(), String>> + Send>,
            > + Send,
    >,
}

impl Server {
    async fn stop(self) -> Result<(), String> {
        (self.stop)().await
    }
}

fn start_pop3(
    world: SharedWorld,
    rng: &mut Rng,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Server>>> {
    let options = Pop3Options {
        apop: rng.one_in(2),
        broken_pipelining: rng.one_in(8),
        ..Pop3Options::default()
    };
    Box::pin(async move {
        let running = fake_servers::pop3::spawn_local(world, Script::default(), options)
            .await
            .expect("binds 127.0.0.1");
        Server {
            addr: running.addr,
            stop: Box::new(move || {
                Box::pin(async move {
                    running.stop().await;
                    Ok(())
                })
            }),
        }
    })
}

fn start_imap(
    world: SharedWorld,
    rng: &mut Rng,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Server>>> {
    let options = ImapOptions {
        greeting_capability: !rng.one_in(4),
        bare_lf: rng.one_in(4),
        uidnext_on_select: !rng.one_in(4),
        ..ImapOptions::default()
    };
    Box::pin(async move {
        let (addr, stop, task) = sessions::spawn_imap(world, options).await;
        Server {
            addr,
            stop: Box::new(move || {
                Box::pin(async move {
                    let _ = stop.send(());
                    task.await.map_err(|e| format!("server task: {e}"))
                })
            }),
        }
    })
}

const POP3_DICT: &[&[u8]] = &[
    b"USER ",
    b"PASS ",
    b"APOP ",
    b"AUTH PLAIN ",
    b"AUTH PLAIN\r\n",
    b"CAPA\r\n",
    b"STLS\r\n",
    b"STAT\r\n",
    b"UIDL\r\n",
    b"UIDL 1\r\n",
    b"LIST\r\n",
    b"LIST 0\r\n",
    b"TOP 1 0\r\n",
    b"TOP 4294967295 4294967295\r\n",
    b"RETR 1\r\n",
    b"DELE 1\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"alice",
    b"*\r\n",
    b"=\r\n",
    b"AGFsaWNlAHB3",
];

const IMAP_DICT: &[&[u8]] = &[
    b"a1 ",
    b"LOGIN ",
    b"AUTHENTICATE PLAIN",
    b"CAPABILITY",
    b"LIST \"\" \"*\"",
    b"LSUB ",
    b"STATUS INBOX (UIDNEXT UIDVALIDITY MESSAGES)",
    b"EXAMINE INBOX",
    b"SELECT ",
    b"UID FETCH ",
    b"FETCH ",
    b"1:*",
    b"*:1",
    b"4294967295",
    b"0:0",
    b"1,2,3",
    b"(UID RFC822.SIZE)",
    b"(FLAGS)",
    b"(BODY.PEEK[HEADER])",
    b"(BODY.PEEK[]<0.10>)",
    b"BODY[TEXT]",
    b"SAVEDATE",
    b"INTERNALDATE",
    b"UID SEARCH ALL",
    b"NOOP",
    b"LOGOUT",
    b"ID NIL",
    b"ENABLE QRESYNC",
    b"NAMESPACE",
    b"STARTTLS",
    b"{5}\r\n",
    b"{5+}\r\n",
    b"{99999999}\r\n",
    b"\"",
    b"(",
    b")",
    b"%",
    b"*",
];

fn seeds(transcripts: Vec<sessions::Transcript>, extra: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = transcripts.into_iter().map(|t| t.from_client).collect();
    seeds.extend(extra.iter().map(|s| s.to_vec()));
    seeds
}

pub fn pop3() -> Harness {
    let extra: &[&[u8]] = &[
        b"CAPA\r\nUSER alice\r\nPASS pw \"q\" \\\r\nSTAT\r\nUIDL\r\nLIST\r\nTOP 1 0\r\nTOP 2 0\r\n\
RETR 3\r\nDELE 1\r\nRSET\r\nUIDL 2\r\nLIST 4\r\nNOOP\r\nQUIT\r\n",
        b"AUTH PLAIN\r\nAGFsaWNlAHB3ICJxIiBc\r\nSTAT\r\nQUIT\r\n",
        b"AUTH PLAIN AGFsaWNlAHB3ICJxIiBc\r\nTOP 1 5\r\nRETR 9\r\nQUIT\r\n",
        b"APOP alice 0123456789abcdef0123456789abcdef\r\nSTLS\r\nQUIT\r\n",
    ];
    Harness {
        name: "pop3_server",
        seeds: seeds(sessions::block_on(sessions::pop3_transcripts()), extra),
        dict: POP3_DICT,
        max_len: 8 * 1024,
        mem_base: 32 << 20,
        mem_per_byte: 256,
        per_input: Duration::from_secs(5),
        make_check: Box::new(|| check_with(start_pop3)),
    }
}

pub fn imap() -> Harness {
    // What Dovecot's imapc sends (interop notes), beside our client's recorded commands.
    let extra: &[&[u8]] = &[
        b"1 LOGIN \"alice\" \"pw \\\"q\\\" \\\\\"\r\n2 LIST \"\" \"\"\r\n3 LIST \"\" \"*\"\r\n\
4 STATUS \"INBOX\" (UIDNEXT UIDVALIDITY)\r\n5 LSUB \"\" \"*\"\r\n7 EXAMINE \"INBOX\"\r\n\
8 UID FETCH 1:* (FLAGS)\r\n9 UID FETCH 1,2,3,4 (RFC822.SIZE)\r\n\
10 UID FETCH 1,2,3,4 (BODY.PEEK[HEADER])\r\n11 UID FETCH 1,2,3,4 (INTERNALDATE BODY.PEEK[])\r\n\
12 LOGOUT\r\n",
        b"a1 CAPABILITY\r\na2 AUTHENTICATE PLAIN AGFsaWNlAHB3ICJxIiBc\r\na3 SELECT INBOX\r\n\
a4 FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER])\r\na5 UID SEARCH ALL\r\na6 NOOP\r\n",
        b"a1 LOGIN {5+}\r\nalice {9}\r\npw \"q\" \\\r\na2 ID NIL\r\na3 NAMESPACE\r\n\
a4 ENABLE QRESYNC\r\na5 EXAMINE Archive\r\na6 UID FETCH *:1 (FLAGS)\r\n",
    ];
    Harness {
        name: "imap_server",
        seeds: seeds(sessions::block_on(sessions::imap_transcripts()), extra),
        dict: IMAP_DICT,
        max_len: 8 * 1024,
        mem_base: 32 << 20,
        mem_per_byte: 256,
        per_input: Duration::from_secs(5),
        make_check: Box::new(|| check_with(start_imap)),
    }
}
