//! The modelled mailboxes: one account seen through two views.
//!
//! The IMAP view is a list of mailboxes, each holding messages by UID; the POP3 view is
//! one maildrop in POP3 order. Both views refer to the same message identities
//! (`id`), which is how a scenario knows the true UIDL of every IMAP message. The bytes
//! of each view are concrete here: provider quirks have already been applied by whoever
//! built the world (see `profiles`), so the servers only serve what they are given.
//!
//! A [`SharedWorld`] is shared by every session of both servers. Timeline events mutate
//! it while sessions run; POP3 sessions take a snapshot of the maildrop at login (as a
//! POP3 server locks its maildrop), IMAP sessions see changes on their next command.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A message identity, shared by both views (the scenario's message key).
pub type MessageId = String;

/// The whole modelled account. Its `Debug` leaves the password out: worlds end up in
/// test failures and logs.
#[derive(Clone, Default)]
pub struct World {
    /// Login name accepted by both servers.
    pub user: String,
    /// Password accepted by both servers.
    pub password: String,
    pub imap: ImapView,
    pub pop3: Pop3View,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("imap", &self.imap)
            .field("pop3", &self.pop3)
            .finish()
    }
}

/// What the IMAP server shows.
#[derive(Clone, Debug)]
pub struct ImapView {
    /// Hierarchy separator, answered to `LIST "" ""`.
    pub separator: char,
    /// Mailboxes in the order `LIST` returns them.
    pub mailboxes: Vec<ImapMailbox>,
}

impl Default for ImapView {
    fn default() -> Self {
        ImapView {
            separator: '/',
            mailboxes: Vec::new(),
        }
    }
}

/// One IMAP mailbox.
#[derive(Clone, Debug)]
pub struct ImapMailbox {
    pub name: String,
    pub uidvalidity: u32,
    /// The next UID to assign; always greater than every UID present.
    pub uidnext: u32,
    /// Messages in UID order (sequence number = index + 1).
    pub messages: Vec<ImapMessage>,
}

impl ImapMailbox {
    /// An empty mailbox.
    pub fn new(name: impl Into<String>, uidvalidity: u32) -> Self {
        ImapMailbox {
            name: name.into(),
            uidvalidity,
            uidnext: 1,
            messages: Vec::new(),
        }
    }

    /// Appends a message with the next UID and returns that UID.
    pub fn append(&mut self, mut message: ImapMessage) -> u32 {
        message.uid = self.uidnext;
        self.uidnext += 1;
        let uid = message.uid;
        self.messages.push(message);
        uid
    }
}

/// One message as the IMAP server serves it.
#[derive(Clone, Debug, Default)]
pub struct ImapMessage {
    pub id: MessageId,
    pub uid: u32,
    /// `BODY[]`: the whole message.
    pub full: Vec<u8>,
    /// `BODY[HEADER]`: may differ from the header part of `full` (provider quirks).
    pub header: Vec<u8>,
    /// `BODY[TEXT]`.
    pub text: Vec<u8>,
    /// `RFC822.SIZE`; `None` means the honest `full.len()`.
    pub rfc822_size: Option<u64>,
    /// Flags without the parentheses, e.g. `\Seen`.
    pub flags: Vec<String>,
    /// `INTERNALDATE` value without quotes, e.g. `14-Nov-2023 22:13:21 +0000`.
    pub internal_date: String,
}

impl ImapMessage {
    /// A message whose views are all honest renditions of `bytes`.
    pub fn honest(id: impl Into<MessageId>, bytes: Vec<u8>) -> Self {
        let (header, text) = split_header(&bytes);
        ImapMessage {
            id: id.into(),
            uid: 0,
            header: header.to_vec(),
            text: text.to_vec(),
            full: bytes,
            rfc822_size: None,
            flags: Vec::new(),
            internal_date: "01-Jan-2024 00:00:00 +0000".to_string(),
        }
    }

    /// The size the server reports as `RFC822.SIZE`.
    pub fn size(&self) -> u64 {
        self.rfc822_size.unwrap_or(self.full.len() as u64)
    }
}

/// What the POP3 server shows.
#[derive(Clone, Debug, Default)]
pub struct Pop3View {
    /// The maildrop in POP3 order (message number = index + 1).
    pub messages: Vec<Pop3Message>,
}

/// One message as the POP3 server serves it.
#[derive(Clone, Debug, Default)]
pub struct Pop3Message {
    pub id: MessageId,
    /// Served verbatim after `n ` in `UIDL` replies: may be empty or hold spaces.
    pub uidl: String,
    /// `RETR`: the whole message, not yet dot-stuffed.
    pub full: Vec<u8>,
    /// `TOP n 0`: `None` means the header part of `full`, blank line included.
    pub top: Option<Vec<u8>>,
    /// `LIST` octets; `None` means the honest `full.len()`.
    pub list_size: Option<u64>,
}

impl Pop3Message {
    /// A message whose views are all honest renditions of `bytes`.
    pub fn honest(id: impl Into<MessageId>, uidl: impl Into<String>, bytes: Vec<u8>) -> Self {
        Pop3Message {
            id: id.into(),
            uidl: uidl.into(),
            full: bytes,
            top: None,
            list_size: None,
        }
    }

    /// The octets `LIST` reports.
    pub fn size(&self) -> u64 {
        self.list_size.unwrap_or(self.full.len() as u64)
    }

    /// What `TOP n lines` returns, before dot-stuffing.
    pub fn top(&self, lines: usize) -> Vec<u8> {
        let (header, text) = match &self.top {
            Some(top) => (top.as_slice(), split_header(&self.full).1),
            None => split_header(&self.full),
        };
        let mut out = header.to_vec();
        if lines > 0 {
            let mut taken = 0;
            let mut end = 0;
            for (i, b) in text.iter().enumerate() {
                if *b == b'\n' {
                    taken += 1;
                    end = i + 1;
                    if taken == lines {
                        break;
                    }
                }
            }
            if taken < lines {
                end = text.len();
            }
            out.extend_from_slice(&text[..end]);
        }
        out
    }
}

/// Splits a message into its header (up to and including the first empty line) and its
/// text. A message without an empty line is all header.
pub fn split_header(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut line_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            let line = &bytes[line_start..i];
            if line.is_empty() || line == b"\r" {
                return bytes.split_at(i + 1);
            }
            line_start = i + 1;
        }
    }
    (bytes, &[])
}

/// The world behind a lock, shared by every session of both servers, with a count of
/// the times it was changed: an IMAP session compares it with the count it last saw and
/// looks for expunged or new messages only when it moved, so that serving a command to
/// a 100,000-message mailbox does not walk every message each time.
#[derive(Clone, Debug, Default)]
pub struct SharedWorld(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    world: Mutex<World>,
    changes: AtomicU64,
}

impl SharedWorld {
    pub fn new(world: World) -> Self {
        SharedWorld(Arc::new(Inner {
            world: Mutex::new(world),
            changes: AtomicU64::new(0),
        }))
    }

    /// Locks the world. A poisoned lock (a panicking session) still yields the world:
    /// the fake servers never leave it half-updated.
    pub fn lock(&self) -> WorldGuard<'_> {
        WorldGuard {
            guard: self.0.world.lock().unwrap_or_else(|e| e.into_inner()),
            changes: &self.0.changes,
        }
    }

    /// A copy of the world as it is now.
    pub fn snapshot(&self) -> World {
        self.lock().clone()
    }
}

/// The locked world. Any mutable access counts as a change (read it with
/// [`WorldGuard::changes`] under the same lock).
pub struct WorldGuard<'a> {
    guard: MutexGuard<'a, World>,
    changes: &'a AtomicU64,
}

impl WorldGuard<'_> {
    /// How many times the world was (possibly) changed so far.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }
}

impl Deref for WorldGuard<'_> {
    type Target = World;

    fn deref(&self) -> &World {
        &self.guard
    }
}

impl DerefMut for WorldGuard<'_> {
    fn deref_mut(&mut self) -> &mut World {
        // Counted before the change is made, under the lock: a reader holding the lock
        // sees the count and the world agree.
        self.changes.fetch_add(1, Ordering::AcqRel);
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_header_table() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b"a: b\r\n\r\nbody\r\n", b"a: b\r\n\r\n", b"body\r\n"),
            (b"a: b\n\nbody\n", b"a: b\n\n", b"body\n"),
            (b"a: b\r\n", b"a: b\r\n", b""),
            (b"", b"", b""),
            (b"\r\nbody", b"\r\n", b"body"),
        ];
        for (input, header, text) in cases {
            assert_eq!(split_header(input), (*header, *text), "{input:?}");
        }
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let w = World {
            user: "alice".into(),
            password: "s3cret-marker".into(),
            ..World::default()
        };
        let shown = format!("{w:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("s3cret-marker"), "{shown}");
    }

    #[test]
    fn top_lines() {
        let m = Pop3Message::honest("m", "u", b"a: b\r\n\r\nl1\r\nl2\r\nl3".to_vec());
        assert_eq!(m.top(0), b"a: b\r\n\r\n");
        assert_eq!(m.top(2), b"a: b\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(m.top(9), b"a: b\r\n\r\nl1\r\nl2\r\nl3");
    }

    #[test]
    fn append_assigns_uids() {
        let mut mb = ImapMailbox::new("INBOX", 7);
        assert_eq!(
            mb.append(ImapMessage::honest("a", b"x: y\r\n\r\n".to_vec())),
            1
        );
        assert_eq!(
            mb.append(ImapMessage::honest("b", b"x: y\r\n\r\n".to_vec())),
            2
        );
        assert_eq!(mb.uidnext, 3);
    }
}
