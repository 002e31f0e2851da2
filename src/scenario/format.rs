//! The scenario file as written: serde types that mirror the YAML, with source positions.
//!
//! Every struct denies unknown keys, and every value a later check may complain about is
//! wrapped in [`Spanned`], so semantic errors (an unknown message, a bad setting) point at
//! the file:line:column of the offending node just as parse errors do. Mappings whose key
//! order matters (messages, mailboxes, settings) are read into [`OrderedMap`], which keeps
//! the order and the position of each key. The meaning of each key is documented in
//! `scenarios/README.md`; [`json_schema`] describes the same shape for editors.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::generate::{Encoding, LineEnding};
use super::knobs::{ImapKnobs, Pop3Knobs};
pub use super::knobs::{ImapServerDef, Pop3ServerDef};
use super::{Outcome, ProfileChoice, WrittenImapc};
use crate::domain::Destination;

/// A mapping read in document order, each key with its position.
#[derive(Debug)]
pub struct OrderedMap<K, V>(pub Vec<(Spanned<K>, V)>);

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for V2<K, V> {
            type Value = OrderedMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<K>>()? {
                    let v = map.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// A scalar whose YAML type matters to the reader: `yes`/`true` (bool), `7` (number) or
/// text. Used where Dovecot-style values and UIDs-or-ids are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Scalar {
    /// The value as a Dovecot setting string would hold it.
    pub fn as_setting(&self) -> String {
        match self {
            Scalar::Bool(true) => "yes".into(),
            Scalar::Bool(false) => "no".into(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Text(t) => t.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar (yes, no, a number or text)")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                i64::try_from(n)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `Some(None)` for an explicit `~`/`null`, `None` when the key is absent.
fn explicit_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub description: Spanned<String>,
    #[serde(default)]
    pub account: Option<AccountDef>,
    #[serde(default)]
    pub settings: Option<OrderedMap<String, Spanned<Scalar>>>,
    #[serde(default)]
    pub imapc: Option<Spanned<ImapcDef>>,
    #[serde(default)]
    pub destination: Option<Spanned<Destination>>,
    #[serde(default)]
    pub messages: Option<OrderedMap<String, Spanned<MessageDef>>>,
    /// Many messages at once, expanded after `messages:` (see [`BulkDef`]).
    #[serde(default)]
    pub bulk: Vec<Spanned<BulkDef>>,
    #[serde(default)]
    pub imap: Option<ImapDef>,
    #[serde(default)]
    pub pop3: Option<Pop3Def>,
    #[serde(default)]
    pub cache: Option<OrderedMap<String, OrderedMap<Scalar, Spanned<String>>>>,
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
    #[serde(default)]
    pub quirks: Vec<Spanned<String>>,
    #[serde(default)]
    pub events: Vec<Spanned<EventDef>>,
    #[serde(default)]
    pub faults: Vec<Spanned<FaultDef>>,
    #[serde(default)]
    pub server: Option<ServerDef>,
    pub expect: Spanned<ExpectDef>,
    /// `dovecot: [2.3, 2.4]`: the versions the scenario is about (default 2.3).
    #[serde(default)]
    pub dovecot: Vec<Spanned<VersionDef>>,
    /// `expect_by_version: { 2.4: {…} }`: what a version does where it differs from
    /// `expect:` (replaces it whole for that version).
    #[serde(default)]
    pub expect_by_version: Option<OrderedMap<VersionDef, Spanned<ExpectDef>>>,
}

/// A Dovecot version as a scenario writes it: `2.3` or `2.4` (a YAML number or text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionDef(pub crate::domain::DovecotVersion);

impl<'de> Deserialize<'de> for VersionDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VersionDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Dovecot version, 2.3 or 2.4")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VersionDef, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VersionDef, E> {
                v.parse().map(VersionDef).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `account:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDef {
    pub user: Spanned<String>,
    pub password: Spanned<String>,
}

/// One entry of `messages:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDef {
    #[serde(default, deserialize_with = "explicit_null")]
    pub from: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub to: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub subject: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub date: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub message_id: Option<Option<Spanned<String>>>,
    #[serde(default)]
    pub headers: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
    #[serde(default)]
    pub raw: Option<Spanned<String>>,
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub line_ending: Option<Spanned<LineEnding>>,
    #[serde(default)]
    pub encoding: Option<Spanned<Encoding>>,
    #[serde(default)]
    pub imap: Option<Spanned<ImapOverride>>,
    #[serde(default)]
    pub pop3: Option<Spanned<Pop3Override>>,
}

/// `messages.<id>.imap:` what the IMAP server shows of this message, where it differs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapOverride {
    #[serde(default)]
    pub rfc822_size: Option<Spanned<u64>>,
    #[serde(default)]
    pub header: Option<Spanned<String>>,
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
    #[serde(default)]
    pub internal_date: Option<Spanned<String>>,
}

/// `messages.<id>.pop3:` what the POP3 server shows of this message, where it differs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Override {
    #[serde(default)]
    pub list_size: Option<Spanned<u64>>,
    #[serde(default)]
    pub uidl: Option<Spanned<String>>,
    #[serde(default)]
    pub top: Option<Spanned<String>>,
}

/// `imap:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapDef {
    #[serde(default)]
    pub separator: Option<Spanned<String>>,
    #[serde(default)]
    pub uidvalidity: Option<Spanned<u32>>,
    #[serde(default)]
    pub mailboxes: Option<Spanned<OrderedMap<String, Spanned<MailboxDef>>>>,
}

/// One mailbox: a list of message ids, or a mapping with UID details.
#[derive(Debug)]
pub enum MailboxDef {
    List(Vec<Spanned<String>>),
    Full(Box<MailboxFull>),
}

impl<'de> Deserialize<'de> for MailboxDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MailboxDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of message ids, or a mapping with messages (and uidvalidity, \
                     first_uid, uids, uidnext, allow_duplicates)",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MailboxDef, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element()? {
                    ids.push(id);
                }
                Ok(MailboxDef::List(ids))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MailboxDef, A::Error> {
                MailboxFull::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|f| MailboxDef::Full(Box::new(f)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mailbox written as a mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxFull {
    pub messages: IdList,
    #[serde(default)]
    pub uidvalidity: Option<Spanned<u32>>,
    #[serde(default)]
    pub first_uid: Option<Spanned<u32>>,
    #[serde(default)]
    pub uids: Option<Spanned<Vec<Spanned<u32>>>>,
    #[serde(default)]
    pub uidnext: Option<Spanned<u32>>,
    #[serde(default)]
    pub allow_duplicates: Vec<Spanned<String>>,
}

/// `pop3:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Def {
    #[serde(default)]
    pub messages: Option<Spanned<IdList>>,
    #[serde(default)]
    pub uidl: Option<Spanned<String>>,
    #[serde(default)]
    pub allow_duplicates: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_duplicate_uidls: Option<Spanned<bool>>,
}

/// Which protocol a raw command match is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolDef {
    Imap,
    Pop3,
}

/// `imapc:`: a profile name (`docs`, `bare`, `defaults`, `both`), or imapc's settings
/// as the admin writes them (`{ features: "…", prefetch: N }`).
#[derive(Debug)]
pub enum ImapcDef {
    Named(ProfileChoice),
    Written(WrittenImapc),
}

impl<'de> Deserialize<'de> for ImapcDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ImapcDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("docs, bare, defaults or both, or a mapping with features and prefetch")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ImapcDef, E> {
                ProfileChoice::deserialize(de::value::StrDeserializer::<E>::new(s))
                    .map(ImapcDef::Named)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImapcDef, A::Error> {
                WrittenImapc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ImapcDef::Written)
            }
        }
        d.deserialize_any(V)
    }
}

/// A protocol step: a step name, or a mapping (a step name with `nth`, or a raw match).
#[derive(Debug)]
pub enum StepDef {
    Named(String),
    Match(Box<MatchDef>),
}

impl<'de> Deserialize<'de> for StepDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StepDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a step name such as pop3.uidl, or a mapping with step or protocol, \
                     command, contains, nth, nth_in_session",
                )
            }
            fn visit_str<E>(self, s: &str) -> Result<StepDef, E> {
                Ok(StepDef::Named(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StepDef, A::Error> {
                MatchDef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| StepDef::Match(Box::new(m)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A step written as a mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    #[serde(default)]
    pub step: Option<Spanned<String>>,
    #[serde(default)]
    pub protocol: Option<Spanned<ProtocolDef>>,
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub contains: Option<Spanned<String>>,
    #[serde(default)]
    pub nth: Option<Spanned<u64>>,
    #[serde(default)]
    pub nth_in_session: Option<Spanned<u64>>,
}

/// One entry of `events:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    #[serde(default)]
    pub before: Option<Spanned<StepDef>>,
    #[serde(default)]
    pub after: Option<Spanned<StepDef>>,
    #[serde(default)]
    pub deliver: Option<Spanned<DeliverDef>>,
    #[serde(default)]
    pub expunge: Option<Spanned<ExpungeDef>>,
    #[serde(default)]
    pub reorder_pop3: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `deliver:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverDef {
    pub message: Spanned<String>,
    #[serde(default)]
    pub imap: Option<Spanned<String>>,
    #[serde(default)]
    pub pop3: Option<Spanned<bool>>,
}

/// `expunge:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpungeDef {
    pub message: Spanned<String>,
    #[serde(default)]
    pub imap: Option<Spanned<bool>>,
    #[serde(default)]
    pub pop3: Option<Spanned<bool>>,
}

/// One entry of `faults:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// The step whose reply changes.
    #[serde(default)]
    pub when: Option<Spanned<StepDef>>,
    /// The old name of `when`: YAML 1.1 readers take the key `on` for `true`.
    #[serde(default)]
    pub on: Option<Spanned<StepDef>>,
    #[serde(default)]
    pub reply: Option<Spanned<String>>,
    #[serde(default)]
    pub line_ending: Option<Spanned<LineEnding>>,
    #[serde(default)]
    pub disconnect: Option<Spanned<bool>>,
    #[serde(default)]
    pub truncate: Option<Spanned<u64>>,
    #[serde(default)]
    pub delay_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub times: Option<Spanned<u64>>,
    #[serde(default)]
    pub skip: Option<Spanned<u64>>,
}

/// `server:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerDef {
    #[serde(default)]
    pub pop3: Option<Pop3ServerDef>,
    #[serde(default)]
    pub imap: Option<ImapServerDef>,
}

/// `expect:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    pub outcome: Spanned<Outcome>,
    #[serde(default)]
    pub wrong: Option<Spanned<u32>>,
    #[serde(default)]
    pub lost: Option<Spanned<u32>>,
    #[serde(default)]
    pub order_lost: Option<Spanned<u32>>,
    #[serde(default)]
    pub warnings: Vec<Spanned<String>>,
    #[serde(default)]
    pub errors: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------
// Bulk syntax: many messages at once, and lists of ids derived by rule

/// A list of message ids: written out (`[m1, m2]`), or derived by rule
/// (`{ of: batch, reverse: yes }`). The loader replaces every rule by the list it stands
/// for before the views are read, so they only ever see [`IdList::List`].
#[derive(Debug)]
pub enum IdList {
    List(Vec<Spanned<String>>),
    Rule(Box<ListRule>),
}

impl IdList {
    /// The ids of a written-out (or already expanded) list; empty for a rule.
    pub fn ids(&self) -> &[Spanned<String>] {
        match self {
            IdList::List(ids) => ids,
            IdList::Rule(_) => &[],
        }
    }
}

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of message ids, or a rule such as { of: batch, reverse: yes } \
                     (of, drop, shuffle, reverse, swap_pairs, append)",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IdList, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element()? {
                    ids.push(id);
                }
                Ok(IdList::List(ids))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IdList, A::Error> {
                ListRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|r| IdList::Rule(Box::new(r)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list derived by rule. The steps apply in this order, whatever order they are
/// written in: `of`, `drop`, `shuffle`, `reverse`, `swap_pairs`, `append`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRule {
    /// Where the ids come from, in order: bulk groups, mailboxes (POP3 only, in UID
    /// order) and message ids.
    pub of: Spanned<Names>,
    #[serde(default)]
    pub drop: Option<Spanned<DropDef>>,
    #[serde(default)]
    pub shuffle: Option<Spanned<SeedDef>>,
    #[serde(default)]
    pub reverse: Option<Spanned<bool>>,
    #[serde(default)]
    pub swap_pairs: Option<Spanned<bool>>,
    #[serde(default)]
    pub append: Vec<Spanned<String>>,
}

/// One name or a list of names.
#[derive(Debug)]
pub struct Names(pub Vec<Spanned<String>>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name, or a list of names")
            }
            fn visit_str<E>(self, s: &str) -> Result<Names, E> {
                let at = serde_saphyr::Location::UNKNOWN;
                Ok(Names(vec![Spanned::new(s.to_string(), at, at)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element()? {
                    names.push(n);
                }
                Ok(Names(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// `drop:` ids by name, or every n-th entry.
#[derive(Debug)]
pub enum DropDef {
    Ids(Vec<Spanned<String>>),
    Every(EveryDef),
}

impl<'de> Deserialize<'de> for DropDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DropDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of message ids, or { every: N }")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DropDef, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element()? {
                    ids.push(id);
                }
                Ok(DropDef::Ids(ids))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DropDef, A::Error> {
                EveryDef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(DropDef::Every)
            }
        }
        d.deserialize_any(V)
    }
}

/// `{ every: N }`: the N-th, 2N-th, … entry (counted from 1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveryDef {
    pub every: Spanned<u64>,
}

/// `{ seed: N }`: a seed for a deterministic pseudo-random choice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDef {
    pub seed: Spanned<u64>,
}

/// One entry of `bulk:`: `count` generated messages made from templates. In the text
/// fields `{i}` is the message's number in the group (from `first`, default 1) and
/// `{id}` its id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkDef {
    /// The group's name, for `of:` in lists derived by rule.
    pub name: Spanned<String>,
    pub count: Spanned<u64>,
    /// Id template; default `<name>-{i}`.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    #[serde(default)]
    pub first: Option<Spanned<u64>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub from: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub to: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub subject: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub date: Option<Option<Spanned<String>>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub message_id: Option<Option<Spanned<String>>>,
    #[serde(default)]
    pub headers: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    #[serde(default)]
    pub size: Option<Spanned<SizeDef>>,
    #[serde(default)]
    pub line_ending: Option<Spanned<LineEnding>>,
    /// Every n-th message repeats the one before: same header block, same size.
    #[serde(default)]
    pub duplicates: Option<Spanned<EveryDef>>,
    /// Each message's own UIDL (`pop3: { uidl }`), from a template.
    #[serde(default)]
    pub uidl: Option<Spanned<String>>,
}

/// The sizes of a bulk group: one size, or a pattern.
#[derive(Debug)]
pub enum SizeDef {
    Fixed(u64),
    Pattern(Box<SizePattern>),
}

impl<'de> Deserialize<'de> for SizeDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SizeDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a size in bytes, or a pattern: { alternate: [..] }, { random: [min, max], \
                     seed: N }, { from: N, step: N }, each with an optional run: N",
                )
            }
            fn visit_u64<E>(self, n: u64) -> Result<SizeDef, E> {
                Ok(SizeDef::Fixed(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<SizeDef, E> {
                u64::try_from(n)
                    .map(SizeDef::Fixed)
                    .map_err(|_| E::custom(format!("a size is 0 or more bytes, got {n}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SizeDef, A::Error> {
                SizePattern::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|p| SizeDef::Pattern(Box::new(p)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size pattern: exactly one of `alternate`, `random` (with `seed`) or `from` (with
/// `step`); `run` holds each size for that many messages in a row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizePattern {
    #[serde(default)]
    pub alternate: Option<Spanned<Vec<Spanned<u64>>>>,
    #[serde(default)]
    pub random: Option<Spanned<Vec<Spanned<u64>>>>,
    #[serde(default)]
    pub seed: Option<Spanned<u64>>,
    #[serde(default)]
    pub from: Option<Spanned<u64>>,
    #[serde(default)]
    pub step: Option<Spanned<i64>>,
    #[serde(default)]
    pub run: Option<Spanned<u64>>,
}

// ---------------------------------------------------------------------------------------
// JSON Schema (hand-written: the types above carry position wrappers schemars can't see)

use serde_json::{Value, json};

pub(super) fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

pub(super) fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

pub(super) fn uint(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}

fn uint32(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX, "description": description })
}

pub(super) fn strings(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "description": description })
}

fn object(description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "description": description,
        "additionalProperties": false,
        "properties": properties,
        "required": required,
    })
}

fn nullable_string(description: &str) -> Value {
    json!({ "type": ["string", "null"], "description": description })
}

fn line_ending() -> Value {
    json!({
        "enum": ["crlf", "lf", "keep"],
        "description": "crlf: every LF becomes CRLF; lf: every CRLF becomes LF; keep: bytes as written",
    })
}

fn step() -> Value {
    json!({
        "description": "A protocol step: a name (imap.login, imap.list, imap.examine, imap.fetch_flags, imap.fetch_sizes, imap.fetch_headers, imap.fetch_messages, imap.logout, pop3.user, pop3.login, pop3.capa, pop3.stls, pop3.uidl, pop3.list, pop3.top, pop3.retr, pop3.quit) or a mapping",
        "oneOf": [
            { "type": "string" },
            object("A named step with a count, or a raw command match", json!({
                "step": string("a step name"),
                "protocol": { "enum": ["imap", "pop3"] },
                "command": string("case-insensitive prefix of the command line (IMAP: without the tag)"),
                "contains": string("case-insensitive substring of the command line"),
                "nth": { "type": "integer", "minimum": 1, "description": "the n-th matching command, counted across sessions" },
                "nth_in_session": { "type": "integer", "minimum": 1, "description": "the command's number within its session" },
            }), &[]),
        ],
    })
}

/// One entry of `messages:`.
fn message_schema() -> Value {
    object(
        "One message. Generated (from/to/subject/date/message_id/headers/body/size), raw, or read from a file",
        json!({
            "from": nullable_string("From value; null leaves the header out"),
            "to": nullable_string("To value; null leaves the header out"),
            "subject": nullable_string("Subject value; null leaves the header out"),
            "date": nullable_string("Date value; null leaves the header out"),
            "message_id": nullable_string("Message-ID value; null leaves the header out"),
            "headers": strings("extra header lines after the standard ones; a newline inside one is a fold"),
            "body": string("body text (a final line end is added)"),
            "size": uint("exact size of the CRLF rendition; the body is padded to it"),
            "raw": string("the whole message"),
            "file": string("an .eml file, relative to the scenario's folder or the scenarios root"),
            "line_ending": line_ending(),
            "encoding": { "enum": ["utf8", "latin1"], "description": "latin1: one byte per character U+0000..U+00FF" },
            "imap": object("what IMAP shows differently", json!({
                "rfc822_size": uint("RFC822.SIZE reported"),
                "header": string("BODY[HEADER] served"),
                "flags": strings("IMAP flags, e.g. \\Seen, \\Flagged"),
                "internal_date": string("INTERNALDATE, e.g. 01-Mar-2024 08:00:00 +0000"),
            }), &[]),
            "pop3": object("what POP3 shows differently", json!({
                "list_size": uint("LIST octets reported"),
                "uidl": string("this message's UIDL (wins over pop3.uidl)"),
                "top": string("TOP n 0 header served"),
            }), &[]),
        }),
        &[],
    )
}

/// A list of message ids, written out or derived by rule.
fn id_list(description: &str) -> Value {
    json!({
        "description": description,
        "oneOf": [
            strings("message ids"),
            object("a list derived by rule; the steps apply in the order of these keys", json!({
                "of": {
                    "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
                    "description": "bulk groups, message ids and (POP3 only) IMAP mailboxes, in UID order",
                },
                "drop": {
                    "oneOf": [
                        strings("message ids to leave out"),
                        object("leave out every n-th entry", json!({ "every": uint("n") }), &["every"]),
                    ],
                },
                "shuffle": object("a pseudo-random order, the same for the same seed", json!({ "seed": uint("seed") }), &["seed"]),
                "reverse": boolean("last first"),
                "swap_pairs": boolean("1st and 2nd, 3rd and 4th, ... change places"),
                "append": strings("message ids added at the end"),
            }), &["of"]),
        ],
    })
}

/// One entry of `bulk:`.
fn bulk_schema() -> Value {
    let template = |what: &str| {
        nullable_string(&format!(
            "{what} template: {{i}} (number in the group), {{id}}; null leaves the header out"
        ))
    };
    object(
        "count generated messages made from templates",
        json!({
            "name": string("the group's name, for of: in lists derived by rule"),
            "count": { "type": "integer", "minimum": 1, "description": "how many messages" },
            "id": string("id template, default <name>-{i}"),
            "first": uint("the first {i} (default 1)"),
            "from": template("From"),
            "to": template("To"),
            "subject": template("Subject"),
            "date": template("Date"),
            "message_id": template("Message-ID"),
            "headers": strings("extra header line templates"),
            "body": string("body template"),
            "size": {
                "description": "a size, or a pattern: alternate, random with seed, or from with step; run holds each size for that many messages",
                "oneOf": [
                    uint("every message this size"),
                    object("a size pattern", json!({
                        "alternate": { "type": "array", "items": { "type": "integer", "minimum": 0 }, "description": "sizes in turn" },
                        "random": { "type": "array", "items": { "type": "integer", "minimum": 0 }, "minItems": 2, "maxItems": 2, "description": "[min, max]" },
                        "seed": uint("seed of random"),
                        "from": uint("first size"),
                        "step": { "type": "integer", "description": "added for each next size" },
                        "run": { "type": "integer", "minimum": 1, "description": "messages in a row with one size" },
                    }), &[]),
                ],
            },
            "line_ending": { "enum": ["crlf", "lf"] },
            "duplicates": object("every n-th message repeats the one before it (same headers and size)", json!({ "every": { "type": "integer", "minimum": 2 } }), &["every"]),
            "uidl": string("template of each message's own UIDL"),
        }),
        &["name", "count"],
    )
}

/// One mailbox of `imap.mailboxes:`.
fn mailbox_schema() -> Value {
    json!({
        "oneOf": [
            strings("message ids in UID order"),
            object("a mailbox with UID details", json!({
                "messages": id_list("message ids in UID order"),
                "uidvalidity": uint32("UIDVALIDITY of this mailbox"),
                "first_uid": uint32("UID of the first message (default 1); the others follow"),
                "uids": { "type": "array", "items": { "type": "integer", "minimum": 1 }, "description": "explicit increasing UIDs, one per message" },
                "uidnext": uint32("UIDNEXT (default: last UID + 1)"),
                "allow_duplicates": strings("message ids allowed to appear more than once here"),
            }), &["messages"]),
        ],
    })
}

/// One entry of `events:`.
fn event_schema() -> Value {
    object(
        "A timeline event: one change to the world, before or after a protocol step",
        json!({
            "before": step(),
            "after": step(),
            "deliver": object("a message arrives", json!({
                "message": string("message id"),
                "imap": string("IMAP mailbox it arrives in"),
                "pop3": boolean("it arrives at the end of the POP3 maildrop"),
            }), &["message"]),
            "expunge": object("a message goes away", json!({
                "message": string("message id"),
                "imap": boolean("from every IMAP mailbox"),
                "pop3": boolean("from the POP3 maildrop"),
            }), &["message"]),
            "reorder_pop3": strings("the POP3 maildrop in this order; others keep their order after these"),
        }),
        &[],
    )
}

/// One entry of `faults:`.
fn fault_schema() -> Value {
    object(
        "A fault: a changed reply to matching commands",
        json!({
            "when": step(),
            "on": { "deprecated": true, "description": "old name of when (YAML 1.1 reads the key on as true)" },
            "reply": string("bytes sent instead of the reply; IMAP {tag} is the command's tag"),
            "line_ending": line_ending(),
            "disconnect": boolean("close the connection without replying"),
            "truncate": uint("send only this many bytes of the real reply, then close"),
            "delay_ms": uint("wait this long before replying"),
            "times": uint("apply this many times (default: every time)"),
            "skip": uint("let this many matching commands through first"),
        }),
        &[],
    )
}

/// `server:`, from the knobs' own table.
fn server_schema() -> Value {
    object(
        "Server behaviour knobs",
        json!({
            "pop3": object("POP3 server", Pop3Knobs::schema_properties(), &[]),
            "imap": object("IMAP server", ImapKnobs::schema_properties(), &[]),
        }),
        &[],
    )
}

fn expect_schema(description: &str) -> Value {
    object(
        description,
        json!({
            "outcome": { "enum": ["success", "failure", "abort", "config_error", "login_failure"] },
            "wrong": uint("IMAP messages given a wrong UIDL"),
            "lost": uint("IMAP messages whose true UIDL is not carried over"),
            "order_lost": uint("IMAP messages given a UIDL but no POP3 order"),
            "warnings": strings("substrings that must appear among the warnings"),
            "errors": strings("substrings that must appear among the errors"),
        }),
        &["outcome"],
    )
}

/// The JSON Schema of scenario files, for `uidlmap scenario schema` and editors.
pub fn json_schema() -> Value {
    let mut schema = object(
        "A uidlmap scenario: an old provider's IMAP and POP3 views of one account, the pop3-migration settings, and the expected outcome",
        json!({
            "description": string("one line: the real situation this models"),
            "account": object("login accepted by both servers", json!({
                "user": string("user name"),
                "password": string("password"),
            }), &["user", "password"]),
            "settings": {
                "type": "object",
                "description": "pop3_migration_* settings, with or without the prefix: mailbox, all_mailboxes, ignore_extra_uidls, ignore_missing_uidls, skip_size_check, skip_uidl_cache",
                "additionalProperties": { "type": ["boolean", "string", "integer"] },
            },
            "imapc": {
                "description": "the Dovecot imapc profile the prediction is for, or imapc's settings as written (on top of each version's defaults)",
                "oneOf": [
                    { "enum": ["docs", "bare", "defaults", "both"] },
                    object("imapc's settings as the admin writes them", json!({
                        "features": string("imapc_features, as written (2.3's rfc822.size in a 2.4 configuration is refused: exit 75)"),
                        "prefetch": uint32("mail_prefetch_count (default 0): prefetch + 1 UIDs a command"),
                    }), &[]),
                ],
            },
            "destination": { "enum": ["maildir", "sdbox", "mdbox"], "description": "the destination's mail storage (default maildir): what it keeps of each UIDL" },
            "messages": { "type": "object", "additionalProperties": message_schema() },
            "bulk": { "type": "array", "items": bulk_schema() },
            "imap": object("the IMAP view", json!({
                "separator": string("hierarchy separator, one character (default /)"),
                "uidvalidity": uint32("default UIDVALIDITY (default 1)"),
                "mailboxes": { "type": "object", "additionalProperties": mailbox_schema(), "description": "mailboxes in LIST order; INBOX is required" },
            }), &[]),
            "pop3": object("the POP3 view", json!({
                "messages": id_list("message ids in POP3 order (default: derived from IMAP INBOX and the listing quirks)"),
                "uidl": string("UIDL template: {id} {n} {uid} {uidvalidity} {md5} {gmail_id} {mailbox}, {uid:08x}, or Dovecot's %08Xu%08Xv"),
                "allow_duplicates": strings("message ids allowed to appear more than once"),
                "allow_duplicate_uidls": boolean("allow two messages with one UIDL"),
            }), &[]),
            "cache": {
                "type": "object",
                "description": "a previous run's pop3.uidl cache: per IMAP mailbox, UID (or message id) to UIDL",
                "additionalProperties": { "type": "object", "additionalProperties": { "type": "string" } },
            },
            "profile": string("provider preset"),
            "quirks": strings("extra quirks by name"),
            "events": { "type": "array", "items": event_schema() },
            "faults": { "type": "array", "items": fault_schema() },
            "server": server_schema(),
            "expect": expect_schema("what Dovecot does (every version of `dovecot:`, unless `expect_by_version` says otherwise)"),
            "dovecot": {
                "type": "array",
                "items": { "enum": ["2.3", "2.4", 2.3, 2.4] },
                "description": "the Dovecot versions the scenario is about (default [2.3])",
            },
            "expect_by_version": {
                "type": "object",
                "propertyNames": { "enum": ["2.3", "2.4"] },
                "additionalProperties": expect_schema("what this version does, in place of `expect:`"),
                "description": "per Dovecot version, where it differs from `expect:`",
            },
        }),
        &["description", "expect"],
    );
    schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    schema["title"] = json!("uidlmap scenario");
    schema["properties"]["profile"]["enum"] = json!(
        fake_servers::profiles::PROFILES
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
    );
    schema["properties"]["quirks"]["items"]["enum"] = json!(
        fake_servers::profiles::QUIRKS
            .iter()
            .map(|q| q.name)
            .collect::<Vec<_>>()
    );
    schema
}
