//! `uidlmap record`: a live provider read once, over the project's own clients, and kept
//! as no more than a scenario file needs — per message its sizes, the shape of each
//! header read (the plugin's hash, length, line ends, blank line) and a digest of its
//! header bytes; never a body or a header's text. [`write`](mod@write) turns that into an
//! anonymised scenario.
//!
//! What is read, and why: IMAP `LIST` (the folders imapc sees, in LIST order), `EXAMINE`
//! and `UID FETCH 1:* (UID RFC822.SIZE)` per folder, `BODY.PEEK[HEADER]` (the plugin's
//! IMAP input) and `BODY.PEEK[]` (the downloaded size, the size 2.3's default imapc
//! measures, and the fallback hash of a header without its blank line); POP3 `CAPA`
//! before and after login, `UIDL`, `LIST`, and `TOP n 0` (or `RETR` without TOP, as
//! pop3c reads), then `RETR` for every TOP without its blank line. Everything is
//! pipelined where the server allows, and each message is dropped as soon as it has
//! been measured: memory grows with the number of messages, not their size.

pub mod write;

use std::sync::atomic::Ordering;

use ring::digest;

use crate::imap::client::{self as imapc, Batching, ImapError};
use crate::matcher::header_hash::{HeaderHash, header_hash};
use crate::migrate::{self, Source, bare_size};
use crate::pop3::client::{self as pop3c, Fetch, Fetched, Pop3Error};
use crate::pop3::codec::Capabilities;

use super::anonymise::header_block_len;

pub use write::{WriteOptions, write_scenario};

/// One read of a header (or of a whole message, for its header block): what the
/// synthetic stand-in must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// What the plugin hashes this read to (its class in the file).
    pub hash: HeaderHash,
    /// Bytes of the header block (blank line included), or of the whole read without one.
    pub len: usize,
    /// Lines end in CRLF (else LF).
    pub crlf: bool,
}

impl Shape {
    /// The shape of a header read (`BODY[HEADER]`, `TOP n 0`).
    fn of_header(bytes: &[u8]) -> Shape {
        Shape {
            hash: header_hash(bytes),
            len: bytes.len(),
            crlf: memchr::memmem::find(bytes, b"\r\n").is_some(),
        }
    }

    /// The shape of a whole message's header block.
    fn of_message(bytes: &[u8]) -> Shape {
        Shape {
            hash: header_hash(bytes),
            len: header_block_len(bytes).unwrap_or(bytes.len()),
            crlf: memchr::memmem::find(bytes, b"\r\n").is_some(),
        }
    }

    pub fn eoh(&self) -> bool {
        self.hash.eoh
    }
}

/// A whole message as downloaded, measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// Bytes downloaded.
    pub size: u64,
    /// The size Dovecot 2.3's default imapc measures ([`bare_size`]).
    pub bare: u64,
    pub shape: Shape,
    /// Digest of the header bytes (without the blank line): which IMAP message and
    /// which POP3 entry are the same message.
    pub ident: [u8; 20],
    /// Every line ends in CRLF (the form a generated scenario message has).
    pub clean_crlf: bool,
    /// How many CRLFs it holds (what an LF-counting server leaves out).
    pub crlfs: u64,
}

impl Full {
    fn of(bytes: &[u8]) -> Full {
        let shape = Shape::of_message(bytes);
        let header = &bytes[..shape.len.min(bytes.len())];
        Full {
            size: bytes.len() as u64,
            bare: bare_size(bytes),
            shape,
            ident: ident(header),
            clean_crlf: clean_crlf(bytes),
            crlfs: memchr::memmem::find_iter(bytes, b"\r\n").count() as u64,
        }
    }
}

/// Every LF is preceded by CR, no CR stands alone, and the last line is ended.
fn clean_crlf(bytes: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in bytes {
        if (b == b'\n' && prev != b'\r') || (prev == b'\r' && b != b'\n') {
            return false;
        }
        prev = b;
    }
    prev != b'\r' && (bytes.is_empty() || bytes.ends_with(b"\n"))
}

/// SHA-1 of a header's bytes without its final blank line.
fn ident(header: &[u8]) -> [u8; 20] {
    let h = header
        .strip_suffix(b"\r\n\r\n")
        .map(|h| &header[..h.len() + 2])
        .or_else(|| header.strip_suffix(b"\n\n").map(|h| &header[..h.len() + 1]))
        .unwrap_or(header);
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, h);
    d.as_ref().try_into().expect("SHA-1 is 20 bytes")
}

/// One IMAP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapMessage {
    pub uid: u32,
    pub rfc822_size: Option<u64>,
    /// `BODY.PEEK[HEADER]`.
    pub header: Shape,
    /// `BODY.PEEK[]`.
    pub full: Full,
}

/// One IMAP folder, as `EXAMINE` and the listing showed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub messages: Vec<ImapMessage>,
}

/// One POP3 entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop3Entry {
    pub number: u32,
    /// `None` when the server has no UIDL.
    pub uidl: Option<Vec<u8>>,
    pub list_size: u64,
    /// `TOP n 0` (or `RETR n` without TOP), as pop3c reads the header.
    pub header: Shape,
    /// Digest of the header bytes read.
    pub ident: [u8; 20],
    /// The whole message, where it was read (no TOP, or TOP without its blank line).
    pub full: Option<Full>,
}

/// The IMAP capabilities that the fake server's knobs can say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImapCaps {
    /// The greeting announced the capabilities.
    pub in_greeting: bool,
    /// Before login (the greeting's, or `CAPABILITY`'s).
    pub before_login: Vec<String>,
    /// After login.
    pub words: Vec<String>,
    /// Every `EXAMINE` answered with `[UIDNEXT n]`.
    pub uidnext_on_select: bool,
}

/// Everything recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub imap_caps: ImapCaps,
    pub separator: Option<char>,
    /// Selectable folders, in LIST order.
    pub folders: Vec<Folder>,
    /// POP3 capabilities after login.
    pub pop3_caps: Capabilities,
    /// STLS was offered before login.
    pub pop3_stls: bool,
    /// PIPELINING was advertised, but commands sent ahead went unanswered.
    pub pop3_broken_pipelining: bool,
    pub pop3: Vec<Pop3Entry>,
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Worded and classified as `verify`'s IMAP failures are.
    #[error(transparent)]
    Imap(migrate::MigrateError),
    #[error("POP3 server {server}: {source}")]
    Pop3 { server: String, source: Pop3Error },
    /// The account changed while it was read: a recording of it would be of no state
    /// the account was ever in.
    #[error("{0}; the account changed while it was read: record again")]
    Changed(String),
}

impl RecordError {
    /// Whether a second try may pass (network trouble, a busy server, mail arriving).
    pub fn is_temporary(&self) -> bool {
        match self {
            RecordError::Imap(e) => e.is_temporary(),
            RecordError::Pop3 { source, .. } => source.is_temporary(),
            RecordError::Changed(_) => true,
        }
    }
}

/// Reads the source once: both servers at once.
pub async fn record(source: &Source, opts: &migrate::Options) -> Result<Recording, RecordError> {
    let (imap, pop3) = tokio::join!(record_imap(source, opts), record_pop3(source, opts));
    let imap_server = source.imap.server_name();
    let pop3_server = source.pop3.server_name();
    let (imap_caps, separator, folders) = imap.map_err(|e| match e {
        Side::Proto(source) => RecordError::Imap(migrate::MigrateError::Imap {
            server: imap_server.clone(),
            source,
        }),
        Side::Changed(what) => RecordError::Changed(what),
    })?;
    let pop3 = pop3.map_err(|e| match e {
        Side::Proto(source) => RecordError::Pop3 {
            server: pop3_server,
            source,
        },
        Side::Changed(what) => RecordError::Changed(what),
    })?;
    Ok(Recording {
        imap_caps,
        separator,
        folders,
        pop3_caps: pop3.caps,
        pop3_stls: pop3.stls,
        pop3_broken_pipelining: pop3.broken_pipelining,
        pop3: pop3.entries,
    })
}

/// [`record`], tried again as `opts.retry` says after a temporary failure.
pub async fn record_with_retries(
    source: &Source,
    opts: &migrate::Options,
    mut on_retry: impl FnMut(&RecordError, u32, std::time::Duration),
) -> Result<Recording, RecordError> {
    opts.retry
        .run(
            RecordError::is_temporary,
            |e, n, wait| on_retry(e, n, wait),
            || async {
                opts.progress.imap_read.store(0, Ordering::Relaxed);
                opts.progress.pop3_read.store(0, Ordering::Relaxed);
                record(source, opts).await
            },
        )
        .await
}

/// A side's failure: the protocol's error, or the account changing under the read.
enum Side<E> {
    Proto(E),
    Changed(String),
}

impl<E> From<E> for Side<E> {
    fn from(e: E) -> Self {
        Side::Proto(e)
    }
}

type ImapRead = (ImapCaps, Option<char>, Vec<Folder>);

async fn record_imap(
    source: &Source,
    opts: &migrate::Options,
) -> Result<ImapRead, Side<ImapError>> {
    let e = &source.imap;
    let timeouts = imapc::Timeouts {
        connect: opts.connect_timeout,
        io: opts.command_timeout,
    };
    let mut client = imapc::connect(
        &e.host,
        e.port,
        e.security,
        &source.trust,
        timeouts,
        imapc::Limits::default(),
    )
    .await?;
    let in_greeting = client.known_capabilities().is_some();
    let before_login = match client.known_capabilities() {
        Some(c) => c.to_vec(),
        None => client.capabilities().await?,
    };
    let listed = client.login_and_list(&e.user, &e.password).await?;
    let words = client.capabilities().await?;
    let separator = listed.iter().find_map(|m| m.delimiter);
    let mut names: Vec<String> = Vec::new();
    for m in listed.into_iter().filter(|m| m.is_selectable()) {
        if !names.contains(&m.name) {
            names.push(m.name);
        }
    }
    let examined = client.examine_and_list_all(&names).await?;
    let total: usize = examined.iter().map(|(_, l)| l.len()).sum();
    opts.progress
        .imap_listed
        .store(total as u64, Ordering::Relaxed);
    let uidnext_on_select = examined.iter().all(|(s, _)| s.uidnext.is_some());
    let wanted: Vec<(String, Vec<u32>)> = names
        .iter()
        .zip(&examined)
        .map(|(n, (_, l))| (n.clone(), l.iter().map(|m| m.uid).collect()))
        .collect();
    let mut headers: Vec<Vec<(u32, Shape)>> = vec![Vec::new(); names.len()];
    let got = client
        .fetch_headers_in(&wanted, |i, uid, bytes| {
            headers[i].push((uid, Shape::of_header(&bytes)));
        })
        .await?;
    if let Some((i, f)) = got
        .iter()
        .enumerate()
        .find(|(_, f)| !f.vanished().is_empty())
    {
        return Err(Side::Changed(format!(
            "IMAP {} UID {} vanished",
            names[i],
            f.vanished()[0]
        )));
    }
    let mut folders = Vec::with_capacity(names.len());
    for (i, (name, (selected, listing))) in names.iter().zip(examined).enumerate() {
        let uids = &wanted[i].1;
        let mut fulls: Vec<(u32, Full)> = Vec::with_capacity(uids.len());
        if !uids.is_empty() {
            client.examine(name).await?;
            let progress = &opts.progress;
            let got = client
                .fetch_full_each(uids, Batching::PIPELINED, |uid, bytes| {
                    fulls.push((uid, Full::of(&bytes)));
                    progress.imap_read.fetch_add(1, Ordering::Relaxed);
                })
                .await?;
            if let Some(uid) = got.vanished().first() {
                return Err(Side::Changed(format!("IMAP {name} UID {uid} vanished")));
            }
        }
        let header_of: std::collections::HashMap<u32, Shape> = headers[i].iter().copied().collect();
        let full_of: std::collections::HashMap<u32, Full> = fulls.into_iter().collect();
        let mut messages = Vec::with_capacity(listing.len());
        for l in &listing {
            let (Some(header), Some(full)) = (header_of.get(&l.uid), full_of.get(&l.uid)) else {
                return Err(Side::Changed(format!("IMAP {name} UID {} vanished", l.uid)));
            };
            messages.push(ImapMessage {
                uid: l.uid,
                rfc822_size: l.size,
                header: *header,
                full: *full,
            });
        }
        // UID order, whatever the sequence order was.
        messages.sort_by_key(|m| m.uid);
        folders.push(Folder {
            name: name.clone(),
            uidvalidity: selected.uidvalidity,
            uidnext: selected.uidnext,
            messages,
        });
    }
    client.logout_without_waiting().await;
    Ok((
        ImapCaps {
            in_greeting,
            before_login,
            words,
            uidnext_on_select,
        },
        separator,
        folders,
    ))
}

/// The POP3 side: pipelined where the server says it can be; a server that advertises
/// PIPELINING and then leaves commands unanswered (provider-quirks #26) is read again
/// one command at a time, and recorded as such.
async fn record_pop3(
    source: &Source,
    opts: &migrate::Options,
) -> Result<Pop3Read, Side<Pop3Error>> {
    match read_pop3(source, opts, false).await {
        Err(Side::Proto(Pop3Error::Timeout { .. } | Pop3Error::Deadline { .. })) => {
            let mut read = read_pop3(source, opts, true).await?;
            read.broken_pipelining = read.caps.pipelining;
            Ok(read)
        }
        other => other,
    }
}

/// What the POP3 side read.
struct Pop3Read {
    caps: Capabilities,
    stls: bool,
    broken_pipelining: bool,
    entries: Vec<Pop3Entry>,
}

async fn read_pop3(
    source: &Source,
    opts: &migrate::Options,
    lock_step: bool,
) -> Result<Pop3Read, Side<Pop3Error>> {
    let e = &source.pop3;
    let timeouts = pop3c::Timeouts {
        connect: opts.connect_timeout,
        command: opts.command_timeout,
    };
    let mut client = pop3c::connect(
        &e.host,
        e.port,
        e.security,
        &source.trust,
        timeouts,
        pop3c::Limits::default(),
    )
    .await?;
    let stls = client.capa().await?.stls;
    client.login(&e.user, &e.password).await?;
    // What pop3c works with: the capabilities after login.
    let caps = client.capa().await?.clone();
    client.set_window(if caps.pipelining && !lock_step {
        pop3c::DEFAULT_WINDOW
    } else {
        1
    });
    let uidls = if caps.uidl {
        Some(client.uidl_all().await?)
    } else {
        None
    };
    let sizes = client.list_all(uidls.as_ref().map(Vec::len)).await?;
    opts.progress
        .pop3_listed
        .store(sizes.len() as u64, Ordering::Relaxed);
    let numbers: Vec<u32> = (1..=sizes.len() as u32).collect();
    let mut reads: Vec<(Shape, [u8; 20], Option<Full>)> = Vec::with_capacity(numbers.len());
    let mut gone: Option<u32> = None;
    let progress = &opts.progress;
    let each = |n: u32, f: Fetched| {
        progress.pop3_read.fetch_add(1, Ordering::Relaxed);
        match f {
            Fetched::Top(b) => reads.push((Shape::of_header(&b), ident(&b), None)),
            Fetched::Retr(b) => {
                let full = Full::of(&b);
                reads.push((full.shape, full.ident, Some(full)));
            }
            Fetched::Expunged { .. } => {
                gone.get_or_insert(n);
            }
        }
    };
    if lock_step {
        client.fetch_headers_each(&numbers, each).await?;
    } else {
        client
            .fetch_headers_budgeted(&numbers, &sizes, pop3c::pipeline::DEFAULT_BUDGET, each)
            .await?;
    }
    if let Some(n) = gone {
        return Err(Side::Changed(format!("POP3 message {n} vanished")));
    }
    // A TOP without its blank line makes pop3c read the whole message (spec 4.4).
    let need: Vec<usize> = (0..reads.len())
        .filter(|&i| reads[i].2.is_none() && !reads[i].0.eoh())
        .collect();
    if !need.is_empty() {
        let fetches: Vec<Fetch> = need
            .iter()
            .map(|&i| Fetch::Retr { msg: i as u32 + 1 })
            .collect();
        let mut fulls = Vec::with_capacity(need.len());
        client
            .fetch_each(&fetches, |i, f| match f {
                Fetched::Retr(b) => fulls.push(Some(Full::of(&b))),
                _ => {
                    gone.get_or_insert(need[i] as u32 + 1);
                    fulls.push(None)
                }
            })
            .await?;
        if let Some(n) = gone {
            return Err(Side::Changed(format!("POP3 message {n} vanished")));
        }
        for (i, f) in need.into_iter().zip(fulls) {
            reads[i].2 = f;
        }
    }
    let _ = client.quit().await;
    let entries = reads
        .into_iter()
        .zip(sizes)
        .enumerate()
        .map(|(i, ((header, ident, full), list_size))| Pop3Entry {
            number: i as u32 + 1,
            uidl: uidls.as_ref().map(|u| u[i].clone()),
            list_size,
            header,
            ident,
            full,
        })
        .collect();
    Ok(Pop3Read {
        caps,
        stls,
        broken_pipelining: false,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_idents() {
        assert!(clean_crlf(b"a: b\r\n\r\nx\r\n"));
        assert!(!clean_crlf(b"a: b\n\r\nx\r\n"));
        assert!(!clean_crlf(b"a: b\r\n\r\nx"));
        assert!(!clean_crlf(b"a: b\r\r\n"));
        assert_eq!(ident(b"a: b\r\n\r\n"), ident(b"a: b\r\n"));
        assert_eq!(ident(b"a: b\n\n"), ident(b"a: b\n"));
        assert_ne!(ident(b"a: b\r\n"), ident(b"a: b \r\n"));
    }
}
