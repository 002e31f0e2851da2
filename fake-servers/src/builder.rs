//! Worlds built in code: messages, IMAP mailboxes, the POP3 listing and its UIDLs,
//! without a scenario file.
//!
//! The builder renders messages with [`crate::generate`] (exact sizes, dated headers) and
//! expands the same UIDL templates (`{id}`, `{uid}`, `%08Xu%08Xv`, …) as `uidlmap`'s
//! scenario files, and applies provider profiles and quirks with [`crate::profiles`], so a
//! world built here is byte for byte the world of the equivalent scenario file.
//!
//! ```
//! use fake_servers::builder::{Message, WorldBuilder};
//!
//! let world = WorldBuilder::new()
//!     .account("alice", "secret")
//!     .message("m1", Message::generated().subject("Hello").size(2048))
//!     .message("m2", Message::raw(b"From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n"))
//!     .mailbox("INBOX", ["m1", "m2"])
//!     .pop3(["m2", "m1"])
//!     .uidl_template("UID{uid}-{uidvalidity}")
//!     .build()
//!     .unwrap();
//! assert_eq!(world.imap.mailboxes[0].messages[0].full.len(), 2048);
//! assert_eq!(world.pop3.messages[0].uidl, "UID2-1");
//! ```

use std::collections::BTreeMap;

use crate::generate::{self, GenError, GeneratedSpec, LineEnding, Template};
use crate::profiles::{self, Quirk};
use crate::world::{self, ImapMailbox, ImapMessage, ImapView, Pop3Message, Pop3View, World};

/// Login of a built world unless [`WorldBuilder::account`] says otherwise (as in
/// scenario files).
pub const DEFAULT_USER: &str = "alice";
/// Password of a built world unless [`WorldBuilder::account`] says otherwise.
pub const DEFAULT_PASSWORD: &str = "secret";

/// Why a world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("message `{0}` is defined twice")]
    DuplicateMessage(String),
    #[error("{place} names message `{id}`, which is not defined")]
    UnknownMessage { place: String, id: String },
    #[error("message `{id}`: {error}")]
    Generate { id: String, error: GenError },
    #[error("UIDL template `{template}`: {message} (at character {})", offset + 1)]
    Template {
        template: String,
        message: String,
        offset: usize,
    },
    #[error(
        "message `{id}` is in no IMAP mailbox, so the UIDL template's {{{var}}} has no value; \
         give it its own UIDL (Message::uidl)"
    )]
    NoValue { id: String, var: &'static str },
    #[error("unknown profile `{0}`")]
    UnknownProfile(String),
    #[error("mailbox `{mailbox}`: UIDs would overflow 32 bits")]
    UidOverflow { mailbox: String },
}

/// One message of a built world: generated (the default) or raw bytes, plus what the
/// IMAP and POP3 views add.
#[derive(Clone, Debug, Default)]
pub struct Message {
    raw: Option<Vec<u8>>,
    from: Option<Option<String>>,
    to: Option<Option<String>>,
    subject: Option<Option<String>>,
    date: Option<Option<String>>,
    message_id: Option<Option<String>>,
    headers: Vec<String>,
    body: Option<String>,
    size: Option<u64>,
    lf: bool,
    flags: Vec<String>,
    internal_date: Option<String>,
    uidl: Option<String>,
}

impl Message {
    /// A generated message: From, To, Subject `Message <id>`, Date, Message-ID and a
    /// one-line body, all derived from its id and position.
    pub fn generated() -> Self {
        Message::default()
    }

    /// A generated message padded to exactly `size` bytes.
    pub fn sized(size: u64) -> Self {
        Message::generated().size(size)
    }

    /// A message served exactly as these bytes.
    pub fn raw(bytes: impl AsRef<[u8]>) -> Self {
        Message {
            raw: Some(bytes.as_ref().to_vec()),
            ..Message::default()
        }
    }

    pub fn from(mut self, value: impl Into<String>) -> Self {
        self.from = Some(Some(value.into()));
        self
    }

    pub fn to(mut self, value: impl Into<String>) -> Self {
        self.to = Some(Some(value.into()));
        self
    }

    pub fn subject(mut self, value: impl Into<String>) -> Self {
        self.subject = Some(Some(value.into()));
        self
    }

    pub fn date(mut self, value: impl Into<String>) -> Self {
        self.date = Some(Some(value.into()));
        self
    }

    pub fn message_id(mut self, value: impl Into<String>) -> Self {
        self.message_id = Some(Some(value.into()));
        self
    }

    /// Leaves a generated header out: `from`, `to`, `subject`, `date` or `message_id`.
    pub fn without(mut self, field: &str) -> Self {
        match field {
            "from" => self.from = Some(None),
            "to" => self.to = Some(None),
            "subject" => self.subject = Some(None),
            "date" => self.date = Some(None),
            "message_id" => self.message_id = Some(None),
            _ => {}
        }
        self
    }

    /// An extra header line, without its line end; `\n` inside is a fold.
    pub fn header(mut self, line: impl Into<String>) -> Self {
        self.headers.push(line.into());
        self
    }

    pub fn body(mut self, text: impl Into<String>) -> Self {
        self.body = Some(text.into());
        self
    }

    /// The exact size of the CRLF rendition (the body is padded with filler lines).
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Render a generated message with LF line ends (its size still counts CRLF).
    pub fn lf(mut self) -> Self {
        self.lf = true;
        self
    }

    /// IMAP flags, e.g. `\Seen`.
    pub fn flag(mut self, flag: impl Into<String>) -> Self {
        self.flags.push(flag.into());
        self
    }

    /// IMAP INTERNALDATE, e.g. `01-Mar-2024 08:00:00 +0000` (default: derived from the
    /// message's position).
    pub fn internal_date(mut self, date: impl Into<String>) -> Self {
        self.internal_date = Some(date.into());
        self
    }

    /// This message's own UIDL instead of the template's.
    pub fn uidl(mut self, uidl: impl Into<String>) -> Self {
        self.uidl = Some(uidl.into());
        self
    }

    fn render(&self, id: &str, index: usize) -> Result<Vec<u8>, GenError> {
        if let Some(raw) = &self.raw {
            return Ok(raw.clone());
        }
        let mut spec = GeneratedSpec::defaults(id, index);
        let pick = |v: &Option<Option<String>>, default: &mut Option<String>| match v {
            None => default.take(),
            Some(v) => v.clone(),
        };
        spec.from = pick(&self.from, &mut spec.from);
        spec.to = pick(&self.to, &mut spec.to);
        spec.subject = pick(&self.subject, &mut spec.subject);
        spec.date = pick(&self.date, &mut spec.date);
        spec.message_id = pick(&self.message_id, &mut spec.message_id);
        spec.headers = self.headers.clone();
        if let Some(b) = &self.body {
            spec.body = b.clone();
        }
        spec.size = self.size;
        if self.lf {
            spec.line_ending = LineEnding::Lf;
        }
        generate::render(&spec)
    }
}

/// An IMAP mailbox of a built world.
#[derive(Clone, Debug)]
pub struct Mailbox {
    name: String,
    ids: Vec<String>,
    uidvalidity: Option<u32>,
    first_uid: u32,
}

impl Mailbox {
    /// A mailbox holding these messages in UID order, UIDs from 1.
    pub fn new<I, S>(name: impl Into<String>, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Mailbox {
            name: name.into(),
            ids: ids.into_iter().map(Into::into).collect(),
            uidvalidity: None,
            first_uid: 1,
        }
    }

    pub fn uidvalidity(mut self, uidvalidity: u32) -> Self {
        self.uidvalidity = Some(uidvalidity.max(1));
        self
    }

    /// The UID of the first message; the others follow one by one.
    pub fn first_uid(mut self, uid: u32) -> Self {
        self.first_uid = uid.max(1);
        self
    }
}

/// Builds a [`World`]; see the module documentation.
#[derive(Clone, Debug)]
pub struct WorldBuilder {
    user: String,
    password: String,
    messages: Vec<(String, Message)>,
    mailboxes: Vec<Mailbox>,
    uidvalidity: u32,
    separator: char,
    pop3: Option<Vec<String>>,
    uidl_template: Option<String>,
    profile: Option<String>,
    quirks: Vec<Quirk>,
}

impl Default for WorldBuilder {
    fn default() -> Self {
        WorldBuilder::new()
    }
}

impl WorldBuilder {
    /// An empty world: account `alice`/`secret`, an empty INBOX, UIDVALIDITY 1, `/` as
    /// separator, UIDLs `{id}`.
    pub fn new() -> Self {
        WorldBuilder {
            user: DEFAULT_USER.to_string(),
            password: DEFAULT_PASSWORD.to_string(),
            messages: Vec::new(),
            mailboxes: Vec::new(),
            uidvalidity: 1,
            separator: '/',
            pop3: None,
            uidl_template: None,
            profile: None,
            quirks: Vec::new(),
        }
    }

    /// The login both servers accept.
    pub fn account(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = user.into();
        self.password = password.into();
        self
    }

    /// Defines a message. Its position among the messages feeds the generated dates, and
    /// is the arrival order of the default POP3 listing.
    pub fn message(mut self, id: impl Into<String>, message: Message) -> Self {
        self.messages.push((id.into(), message));
        self
    }

    /// Defines `count` generated messages `prefix1`, `prefix2`, … of `size` bytes each.
    pub fn messages(mut self, prefix: &str, count: usize, size: u64) -> Self {
        for i in 1..=count {
            self.messages
                .push((format!("{prefix}{i}"), Message::sized(size)));
        }
        self
    }

    /// An IMAP mailbox holding these messages (UIDs from 1). Mailboxes are listed in
    /// the order they are added; without an INBOX, an empty one comes first.
    pub fn mailbox<I, S>(self, name: impl Into<String>, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mailbox_with(Mailbox::new(name, ids))
    }

    /// An IMAP mailbox with its own UIDVALIDITY or first UID.
    pub fn mailbox_with(mut self, mailbox: Mailbox) -> Self {
        self.mailboxes.push(mailbox);
        self
    }

    /// The UIDVALIDITY of mailboxes that do not set their own.
    pub fn uidvalidity(mut self, uidvalidity: u32) -> Self {
        self.uidvalidity = uidvalidity.max(1);
        self
    }

    /// The IMAP hierarchy separator.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// The POP3 listing in POP3 order. Without it POP3 lists INBOX in arrival order
    /// (or what the profile's quirks list).
    pub fn pop3<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pop3 = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// How UIDLs are made: `{id}`, `{n}`, `{uid}`, `{uidvalidity}`, `{mailbox}`, `{md5}`
    /// (of the header), `{gmail_id}`, with formats such as `{uid:08x}`, or Dovecot's
    /// `%08Xu%08Xv`. The default is the profile's, else `{id}`.
    pub fn uidl_template(mut self, template: impl Into<String>) -> Self {
        self.uidl_template = Some(template.into());
        self
    }

    /// A provider preset of [`profiles::PROFILES`], e.g. `gmail`.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// One provider quirk on top of the profile's.
    pub fn quirk(mut self, quirk: Quirk) -> Self {
        self.quirks.push(quirk);
        self
    }

    /// Renders every message and both views.
    pub fn build(self) -> Result<World, BuildError> {
        let quirks = self.all_quirks()?;
        let mut bytes: BTreeMap<&str, (Vec<u8>, &Message)> = BTreeMap::new();
        for (index, (id, m)) in self.messages.iter().enumerate() {
            let rendered = m.render(id, index).map_err(|error| BuildError::Generate {
                id: id.clone(),
                error,
            })?;
            if bytes.insert(id, (rendered, m)).is_some() {
                return Err(BuildError::DuplicateMessage(id.clone()));
            }
        }
        let index_of = |id: &str| self.messages.iter().position(|(i, _)| i == id);
        let imap = self.imap_view(&bytes, &index_of)?;
        let homes = homes(&imap);

        let arrival: Vec<String> = self.messages.iter().map(|(id, _)| id.clone()).collect();
        let listing = match &self.pop3 {
            Some(ids) => ids.clone(),
            None => profiles::pop3_listing(&quirks, &imap, &arrival),
        };
        let template_text = match &self.uidl_template {
            Some(t) => t.clone(),
            None => profiles::uidl_template(&quirks)
                .unwrap_or("{id}")
                .to_string(),
        };
        let template = Template::parse(&template_text).map_err(|e| BuildError::Template {
            template: template_text.clone(),
            message: e.message,
            offset: e.offset,
        })?;
        let mut pop3 = Pop3View::default();
        for (n, id) in listing.iter().enumerate() {
            let (full, m) = bytes.get(id.as_str()).ok_or_else(|| unknown("POP3", id))?;
            let uidl = match &m.uidl {
                Some(u) => u.clone(),
                None => expand_uidl(&template, id, n + 1, full, homes.get(id.as_str()))?,
            };
            pop3.messages
                .push(Pop3Message::honest(id.clone(), uidl, full.clone()));
        }
        let mut world = World {
            user: self.user,
            password: self.password,
            imap,
            pop3,
        };
        profiles::apply(&mut world, &quirks);
        Ok(world)
    }

    fn all_quirks(&self) -> Result<Vec<Quirk>, BuildError> {
        let mut out = Vec::new();
        if let Some(name) = &self.profile {
            let p =
                profiles::profile(name).ok_or_else(|| BuildError::UnknownProfile(name.clone()))?;
            out.extend_from_slice(p.quirks);
        }
        out.extend_from_slice(&self.quirks);
        // The order quirks are given in does not matter, as in scenario files.
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn imap_view(
        &self,
        bytes: &BTreeMap<&str, (Vec<u8>, &Message)>,
        index_of: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<ImapView, BuildError> {
        let mut imap = ImapView {
            separator: self.separator,
            mailboxes: Vec::new(),
        };
        if !self.mailboxes.iter().any(|m| m.name == "INBOX") {
            imap.mailboxes
                .push(ImapMailbox::new("INBOX", self.uidvalidity));
        }
        for spec in &self.mailboxes {
            let mut mb = ImapMailbox::new(
                spec.name.clone(),
                spec.uidvalidity.unwrap_or(self.uidvalidity),
            );
            for (i, id) in spec.ids.iter().enumerate() {
                let (full, m) = bytes
                    .get(id.as_str())
                    .ok_or_else(|| unknown(&format!("mailbox `{}`", spec.name), id))?;
                let mut im = ImapMessage::honest(id.clone(), full.clone());
                im.uid = spec.first_uid.checked_add(i as u32).ok_or_else(|| {
                    BuildError::UidOverflow {
                        mailbox: spec.name.clone(),
                    }
                })?;
                im.flags = m.flags.clone();
                im.internal_date = m.internal_date.clone().unwrap_or_else(|| {
                    generate::imap_internal_date(index_of(id).unwrap_or_default())
                });
                mb.messages.push(im);
            }
            mb.uidnext = mb
                .messages
                .last()
                .map_or(spec.first_uid, |m| m.uid.saturating_add(1));
            imap.mailboxes.push(mb);
        }
        Ok(imap)
    }
}

fn unknown(place: &str, id: &str) -> BuildError {
    BuildError::UnknownMessage {
        place: place.to_string(),
        id: id.to_string(),
    }
}

/// Where a message first lives in IMAP (INBOX first, then LIST order), for `{uid}`,
/// `{uidvalidity}` and `{mailbox}`.
struct Home<'a> {
    mailbox: &'a str,
    uid: u32,
    uidvalidity: u32,
}

fn homes(imap: &ImapView) -> BTreeMap<&str, Home<'_>> {
    let mut out = BTreeMap::new();
    let inbox_first = imap
        .mailboxes
        .iter()
        .filter(|m| m.name == "INBOX")
        .chain(imap.mailboxes.iter().filter(|m| m.name != "INBOX"));
    for mb in inbox_first {
        for m in &mb.messages {
            out.entry(m.id.as_str()).or_insert(Home {
                mailbox: &mb.name,
                uid: m.uid,
                uidvalidity: mb.uidvalidity,
            });
        }
    }
    out
}

fn expand_uidl(
    template: &Template,
    id: &str,
    n: usize,
    full: &[u8],
    home: Option<&Home<'_>>,
) -> Result<String, BuildError> {
    let value = |var: &str| -> Option<String> {
        Some(match var {
            "id" => id.to_string(),
            "n" => n.to_string(),
            "uid" => home?.uid.to_string(),
            "uidvalidity" => home?.uidvalidity.to_string(),
            "mailbox" => home?.mailbox.to_string(),
            "md5" => generate::md5_hex(world::split_header(full).0),
            "gmail_id" => generate::gmail_id(id),
            _ => return None,
        })
    };
    template.expand(value).map_err(|var| BuildError::NoValue {
        id: id.to_string(),
        var,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_sizes() {
        let w = WorldBuilder::new().messages("m", 3, 1000).build().unwrap();
        assert_eq!((w.user.as_str(), w.password.as_str()), ("alice", "secret"));
        assert_eq!(w.imap.mailboxes.len(), 1);
        assert_eq!(w.imap.mailboxes[0].name, "INBOX");
        // No mailbox holds the messages, so POP3 (INBOX by default) lists none.
        assert!(w.pop3.messages.is_empty());

        let w = WorldBuilder::new()
            .messages("m", 3, 1000)
            .mailbox("INBOX", ["m1", "m2", "m3"])
            .mailbox_with(Mailbox::new("Archive", ["m1"]).uidvalidity(9).first_uid(40))
            .uidl_template("%08Xu%08Xv")
            .build()
            .unwrap();
        let inbox = &w.imap.mailboxes[0];
        assert!(inbox.messages.iter().all(|m| m.full.len() == 1000));
        assert_eq!(inbox.uidnext, 4);
        assert_eq!(w.imap.mailboxes[1].messages[0].uid, 40);
        assert_eq!(w.imap.mailboxes[1].uidnext, 41);
        let uidls: Vec<&str> = w.pop3.messages.iter().map(|m| m.uidl.as_str()).collect();
        assert_eq!(
            uidls,
            ["0000000100000001", "0000000200000001", "0000000300000001"]
        );
        assert_eq!(
            inbox.messages[1].internal_date,
            "01-Mar-2024 08:37:00 +0000"
        );
    }

    #[test]
    fn errors() {
        let e = WorldBuilder::new().mailbox("INBOX", ["x"]).build();
        assert!(matches!(e, Err(BuildError::UnknownMessage { .. })));
        let e = WorldBuilder::new()
            .message("m1", Message::sized(10))
            .build();
        assert!(matches!(e, Err(BuildError::Generate { .. })));
        let e = WorldBuilder::new()
            .message("m1", Message::generated())
            .pop3(["m1"])
            .uidl_template("{uid}")
            .build();
        assert!(matches!(e, Err(BuildError::NoValue { var: "uid", .. })));
        let e = WorldBuilder::new().profile("nope").build();
        assert!(matches!(e, Err(BuildError::UnknownProfile(_))));
    }

    #[test]
    fn own_uidl_and_raw() {
        let w = WorldBuilder::new()
            .message("a", Message::raw("X: y\r\n\r\nz\r\n").uidl("own"))
            .message("b", Message::generated().without("to").lf())
            .mailbox("INBOX", ["a", "b"])
            .build()
            .unwrap();
        assert_eq!(w.pop3.messages[0].uidl, "own");
        assert_eq!(w.pop3.messages[0].full, b"X: y\r\n\r\nz\r\n");
        assert_eq!(w.pop3.messages[1].uidl, "b");
        let b = &w.pop3.messages[1].full;
        assert!(!b.windows(2).any(|x| x == b"\r\n"));
        assert!(!b.starts_with(b"To:") && !b.windows(4).any(|x| x == b"\nTo:"));
    }
}
