//! The scenario file as written: serde types that mirror the YAML, with source positions.
//!
//! Every struct denies unknown keys, and every value a later check may complain about is
//! wrapped in [`Spanned`], so semantic errors (an unknown message, a bad setting) point at
//! the file:line:column of the offending node just as parse errors do. Mappings whose key
//! order matters (messages, mailboxes, settings) are read into [`OrderedMap`], which keeps
//! the order and the position of each key. The meaning of each key is documented in
//! `scenarios/README.md`.
//!
//! The same types are the JSON Schema of the format (`super::schema::json_schema`): the
//! doc comments of the structs and their fields are its descriptions, so they are written
//! for someone writing a scenario. The types read with a hand-written visitor (a mailbox,
//! a step, a list of ids, …) describe their alternatives beside that visitor.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Location;

use super::generate::{Encoding, LineEnding};
pub use super::knobs::{ImapServerDef, Pop3ServerDef};
use super::schema::{Nullable, known_profiles, known_quirks};
use super::{Outcome, ProfileChoice, WrittenImapc};
use crate::domain::Destination;

/// A value with the position it was written at: serde-saphyr's `Spanned`, which the
/// schema sees through (a position is not part of the format).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    /// Where the value is used (an alias's position, for an aliased value).
    pub referenced: Location,
    /// Where the value is written.
    pub defined: Location,
}

impl<T> Spanned<T> {
    pub const fn new(value: T, referenced: Location, defined: Location) -> Self {
        Spanned {
            value,
            referenced,
            defined,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_saphyr::Spanned::<T>::deserialize(d)
            .map(|s| Spanned::new(s.value, s.referenced, s.defined))
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        T::json_schema(g)
    }
}

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

/// A mapping of any keys to `V`. Keys are text in JSON; a key type with known values
/// (a Dovecot version) names them.
impl<K: JsonSchema, V: JsonSchema> JsonSchema for OrderedMap<K, V> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!(
            "OrderedMap_of_{}_and_{}",
            K::schema_name(),
            V::schema_name()
        )
        .into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let mut schema = json_schema!({
            "type": "object",
            "additionalProperties": g.subschema_for::<V>(),
        });
        let keys = g.subschema_for::<K>();
        if keys.get("enum").is_some() {
            schema.insert("propertyNames".into(), keys.into());
        }
        schema
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

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["boolean", "string", "integer"] })
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

/// A uidlmap scenario: an old provider's IMAP and POP3 views of one account, the
/// pop3-migration settings, and the expected outcome.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "uidlmap scenario")]
pub struct ScenarioFile {
    /// one line: the real situation this models
    pub description: Spanned<String>,
    /// login accepted by both servers
    #[serde(default)]
    pub account: Option<AccountDef>,
    /// pop3_migration_* settings, with or without the prefix: mailbox, all_mailboxes,
    /// ignore_extra_uidls, ignore_missing_uidls, skip_size_check, skip_uidl_cache
    #[serde(default)]
    pub settings: Option<OrderedMap<String, Spanned<Scalar>>>,
    /// the Dovecot imapc profile the prediction is for
    #[serde(default)]
    pub imapc: Option<Spanned<ImapcDef>>,
    /// the destination's mail storage (default maildir): what it keeps of each UIDL
    #[serde(default)]
    pub destination: Option<Spanned<Destination>>,
    /// the messages by id, in the order they are written
    #[serde(default)]
    pub messages: Option<OrderedMap<String, Spanned<MessageDef>>>,
    /// many messages at once, expanded after `messages:`
    #[serde(default)]
    pub bulk: Vec<Spanned<BulkDef>>,
    /// the IMAP view
    #[serde(default)]
    pub imap: Option<ImapDef>,
    /// the POP3 view
    #[serde(default)]
    pub pop3: Option<Pop3Def>,
    /// a previous run's pop3.uidl cache: per IMAP mailbox, UID (or message id) to UIDL
    #[serde(default)]
    pub cache: Option<OrderedMap<String, OrderedMap<Scalar, Spanned<String>>>>,
    /// provider preset
    #[serde(default)]
    #[schemars(schema_with = "known_profiles")]
    pub profile: Option<Spanned<String>>,
    /// extra quirks by name
    #[serde(default)]
    #[schemars(schema_with = "known_quirks")]
    pub quirks: Vec<Spanned<String>>,
    /// changes to the world while the migration runs
    #[serde(default)]
    pub events: Vec<Spanned<EventDef>>,
    /// changed replies to matching commands
    #[serde(default)]
    pub faults: Vec<Spanned<FaultDef>>,
    /// server behaviour knobs
    #[serde(default)]
    pub server: Option<ServerDef>,
    /// what Dovecot does (every version of `dovecot:`, unless `expect_by_version` says
    /// otherwise)
    pub expect: Spanned<ExpectDef>,
    /// the Dovecot versions the scenario is about (default [2.3])
    #[serde(default)]
    pub dovecot: Vec<Spanned<VersionDef>>,
    /// per Dovecot version, where it differs from `expect:` (replaces it whole for that
    /// version)
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

impl JsonSchema for VersionDef {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "VersionDef".into()
    }
    /// Each version as text and as the number YAML reads `2.3` as.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let all = crate::domain::DovecotVersion::ALL;
        let text = all.iter().map(|v| serde_json::Value::from(v.name()));
        let numbers = all
            .iter()
            .filter_map(|v| v.name().parse::<f64>().ok())
            .map(serde_json::Value::from);
        let values: Vec<serde_json::Value> = text.chain(numbers).collect();
        json_schema!({ "enum": values })
    }
}

/// The login both servers accept (default alice / secret).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDef {
    /// user name
    pub user: Spanned<String>,
    /// password
    pub password: Spanned<String>,
}

/// One message. Generated (from/to/subject/date/message_id/headers/body/size), raw, or
/// read from a file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageDef {
    /// From value; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub from: Option<Option<Spanned<String>>>,
    /// To value; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub to: Option<Option<Spanned<String>>>,
    /// Subject value; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub subject: Option<Option<Spanned<String>>>,
    /// Date value; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub date: Option<Option<Spanned<String>>>,
    /// Message-ID value; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub message_id: Option<Option<Spanned<String>>>,
    /// extra header lines after the standard ones; a newline inside one is a fold
    #[serde(default)]
    pub headers: Option<Spanned<Vec<Spanned<String>>>>,
    /// body text (a final line end is added)
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    /// exact size of the CRLF rendition; the body is padded to it
    #[serde(default)]
    pub size: Option<Spanned<u64>>,
    /// the whole message
    #[serde(default)]
    pub raw: Option<Spanned<String>>,
    /// an .eml file, relative to the scenario's folder or the scenarios root
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    /// how the line ends of the text are written (default crlf)
    #[serde(default)]
    pub line_ending: Option<Spanned<LineEnding>>,
    /// how the characters of raw text become bytes (default utf8)
    #[serde(default)]
    pub encoding: Option<Spanned<Encoding>>,
    /// what IMAP shows differently
    #[serde(default)]
    pub imap: Option<Spanned<ImapOverride>>,
    /// what POP3 shows differently
    #[serde(default)]
    pub pop3: Option<Spanned<Pop3Override>>,
}

/// What the IMAP server shows of this message, where it differs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImapOverride {
    /// RFC822.SIZE reported
    #[serde(default)]
    pub rfc822_size: Option<Spanned<u64>>,
    /// `BODY[HEADER]` served
    #[serde(default)]
    pub header: Option<Spanned<String>>,
    /// IMAP flags, e.g. \Seen, \Flagged
    #[serde(default)]
    pub flags: Vec<Spanned<String>>,
    /// INTERNALDATE, e.g. 01-Mar-2024 08:00:00 +0000
    #[serde(default)]
    pub internal_date: Option<Spanned<String>>,
}

/// What the POP3 server shows of this message, where it differs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pop3Override {
    /// LIST octets reported
    #[serde(default)]
    pub list_size: Option<Spanned<u64>>,
    /// this message's UIDL (wins over pop3.uidl)
    #[serde(default)]
    pub uidl: Option<Spanned<String>>,
    /// TOP n 0 header served
    #[serde(default)]
    pub top: Option<Spanned<String>>,
}

/// The IMAP view: its folders and their messages.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImapDef {
    /// hierarchy separator, one character (default /)
    #[serde(default)]
    pub separator: Option<Spanned<String>>,
    /// default UIDVALIDITY (default 1)
    #[serde(default)]
    pub uidvalidity: Option<Spanned<u32>>,
    /// mailboxes in LIST order; INBOX is required
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

impl JsonSchema for MailboxDef {
    fn schema_name() -> Cow<'static, str> {
        "MailboxDef".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        one_of([
            described(g.subschema_for::<Vec<String>>(), "message ids in UID order"),
            g.subschema_for::<MailboxFull>(),
        ])
    }
}

/// A mailbox with UID details.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxFull {
    /// message ids in UID order
    pub messages: IdList,
    /// UIDVALIDITY of this mailbox
    #[serde(default)]
    pub uidvalidity: Option<Spanned<u32>>,
    /// UID of the first message (default 1); the others follow
    #[serde(default)]
    pub first_uid: Option<Spanned<u32>>,
    /// explicit increasing UIDs, one per message
    #[serde(default)]
    #[schemars(inner(range(min = 1)))]
    pub uids: Option<Spanned<Vec<Spanned<u32>>>>,
    /// UIDNEXT (default: last UID + 1)
    #[serde(default)]
    pub uidnext: Option<Spanned<u32>>,
    /// message ids allowed to appear more than once here
    #[serde(default)]
    pub allow_duplicates: Vec<Spanned<String>>,
}

/// The POP3 view: the maildrop's order and UIDLs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pop3Def {
    /// message ids in POP3 order (default: derived from IMAP INBOX and the listing quirks)
    #[serde(default)]
    pub messages: Option<Spanned<IdList>>,
    /// UIDL template: {id} {n} {uid} {uidvalidity} {md5} {gmail_id} {mailbox},
    /// {uid:08x}, or Dovecot's %08Xu%08Xv
    #[serde(default)]
    pub uidl: Option<Spanned<String>>,
    /// message ids allowed to appear more than once
    #[serde(default)]
    pub allow_duplicates: Vec<Spanned<String>>,
    /// allow two messages with one UIDL
    #[serde(default)]
    pub allow_duplicate_uidls: Option<Spanned<bool>>,
}

/// Which protocol a raw command match is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
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

impl JsonSchema for ImapcDef {
    fn schema_name() -> Cow<'static, str> {
        "ImapcDef".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        described(
            one_of([
                g.subschema_for::<ProfileChoice>(),
                g.subschema_for::<WrittenImapc>(),
            ]),
            "the Dovecot imapc profile the prediction is for, or imapc's settings as \
             written (on top of each version's defaults)",
        )
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

impl JsonSchema for StepDef {
    fn schema_name() -> Cow<'static, str> {
        "StepDef".into()
    }
    /// The step names come from the loader's table, so a new step is listed here too.
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = super::load::STEPS.iter().map(|s| s.0).collect();
        let mut schema = one_of([g.subschema_for::<String>(), g.subschema_for::<MatchDef>()]);
        schema.insert(
            "description".into(),
            format!(
                "A protocol step: a name ({}) or a mapping",
                names.join(", ")
            )
            .into(),
        );
        schema
    }
}

/// A named step with a count, or a raw command match.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// a step name
    #[serde(default)]
    pub step: Option<Spanned<String>>,
    /// the protocol of a raw match
    #[serde(default)]
    pub protocol: Option<Spanned<ProtocolDef>>,
    /// case-insensitive prefix of the command line (IMAP: without the tag)
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    /// case-insensitive substring of the command line
    #[serde(default)]
    pub contains: Option<Spanned<String>>,
    /// the n-th matching command, counted across sessions
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub nth: Option<Spanned<u64>>,
    /// the command's number within its session
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub nth_in_session: Option<Spanned<u64>>,
}

/// A timeline event: one change to the world, before or after a protocol step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    /// the step it happens before
    #[serde(default)]
    pub before: Option<Spanned<StepDef>>,
    /// the step it happens after
    #[serde(default)]
    pub after: Option<Spanned<StepDef>>,
    /// a message arrives
    #[serde(default)]
    pub deliver: Option<Spanned<DeliverDef>>,
    /// a message goes away
    #[serde(default)]
    pub expunge: Option<Spanned<ExpungeDef>>,
    /// the POP3 maildrop in this order; others keep their order after these
    #[serde(default)]
    pub reorder_pop3: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A message arrives.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverDef {
    /// message id
    pub message: Spanned<String>,
    /// IMAP mailbox it arrives in
    #[serde(default)]
    pub imap: Option<Spanned<String>>,
    /// it arrives at the end of the POP3 maildrop
    #[serde(default)]
    pub pop3: Option<Spanned<bool>>,
}

/// A message goes away.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpungeDef {
    /// message id
    pub message: Spanned<String>,
    /// from every IMAP mailbox
    #[serde(default)]
    pub imap: Option<Spanned<bool>>,
    /// from the POP3 maildrop
    #[serde(default)]
    pub pop3: Option<Spanned<bool>>,
}

/// A fault: a changed reply to matching commands.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// the step whose reply changes
    #[serde(default)]
    pub when: Option<Spanned<StepDef>>,
    /// old name of when (YAML 1.1 reads the key on as true)
    #[serde(default)]
    #[schemars(extend("deprecated" = true))]
    pub on: Option<Spanned<StepDef>>,
    /// bytes sent instead of the reply; IMAP {tag} is the command's tag
    #[serde(default)]
    pub reply: Option<Spanned<String>>,
    /// how the line ends of reply are written (default crlf)
    #[serde(default)]
    pub line_ending: Option<Spanned<LineEnding>>,
    /// close the connection without replying
    #[serde(default)]
    pub disconnect: Option<Spanned<bool>>,
    /// send only this many bytes of the real reply, then close
    #[serde(default)]
    pub truncate: Option<Spanned<u64>>,
    /// wait this long before replying
    #[serde(default)]
    pub delay_ms: Option<Spanned<u64>>,
    /// apply this many times (default: every time)
    #[serde(default)]
    pub times: Option<Spanned<u64>>,
    /// let this many matching commands through first
    #[serde(default)]
    pub skip: Option<Spanned<u64>>,
}

/// Server behaviour knobs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerDef {
    /// POP3 server
    #[serde(default)]
    pub pop3: Option<Pop3ServerDef>,
    /// IMAP server
    #[serde(default)]
    pub imap: Option<ImapServerDef>,
}

/// What Dovecot does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    pub outcome: Spanned<Outcome>,
    /// with outcome failure: doveadm's exit code where it is not 75 (a server's `NO`
    /// without a response code is imapc's invalid-parameters error: 64)
    #[serde(default)]
    pub exit: Option<Spanned<u8>>,
    /// IMAP messages given a wrong UIDL
    #[serde(default)]
    pub wrong: Option<Spanned<u32>>,
    /// IMAP messages whose true UIDL is not carried over
    #[serde(default)]
    pub lost: Option<Spanned<u32>>,
    /// IMAP messages given a UIDL but no POP3 order
    #[serde(default)]
    pub order_lost: Option<Spanned<u32>>,
    /// substrings that must appear among the warnings
    #[serde(default)]
    pub warnings: Vec<Spanned<String>>,
    /// substrings that must appear among the errors
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

impl JsonSchema for IdList {
    fn schema_name() -> Cow<'static, str> {
        "IdList".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        one_of([
            described(g.subschema_for::<Vec<String>>(), "message ids"),
            g.subschema_for::<ListRule>(),
        ])
    }
}

/// A list derived by rule. The steps apply in this order, whatever order they are
/// written in: of, drop, shuffle, reverse, swap_pairs, append.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRule {
    /// where the ids come from, in order: bulk groups, message ids and (POP3 only) IMAP
    /// mailboxes, in UID order
    pub of: Spanned<Names>,
    /// ids to leave out
    #[serde(default)]
    pub drop: Option<Spanned<DropDef>>,
    /// a pseudo-random order, the same for the same seed
    #[serde(default)]
    pub shuffle: Option<Spanned<SeedDef>>,
    /// last first
    #[serde(default)]
    pub reverse: Option<Spanned<bool>>,
    /// 1st and 2nd, 3rd and 4th, ... change places
    #[serde(default)]
    pub swap_pairs: Option<Spanned<bool>>,
    /// message ids added at the end
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
                let at = Location::UNKNOWN;
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

impl JsonSchema for Names {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Names".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        one_of([
            g.subschema_for::<String>(),
            g.subschema_for::<Vec<String>>(),
        ])
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

impl JsonSchema for DropDef {
    fn schema_name() -> Cow<'static, str> {
        "DropDef".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        one_of([
            described(g.subschema_for::<Vec<String>>(), "message ids to leave out"),
            described(g.subschema_for::<EveryDef>(), "leave out every n-th entry"),
        ])
    }
}

/// Every n-th entry: the n-th, 2n-th, … (counted from 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Inline, so that `duplicates:` can narrow its `every` (`schema::at_least_two_apart`).
#[schemars(inline)]
pub struct EveryDef {
    /// n
    pub every: Spanned<u64>,
}

/// A seed for a deterministic pseudo-random choice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedDef {
    /// seed
    pub seed: Spanned<u64>,
}

/// Count generated messages made from templates. In the text fields {i} is the
/// message's number in the group (from first, default 1) and {id} its id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkDef {
    /// the group's name, for of: in lists derived by rule
    pub name: Spanned<String>,
    /// how many messages
    #[schemars(range(min = 1))]
    pub count: Spanned<u64>,
    /// id template, default `<name>-{i}`
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    /// the first {i} (default 1)
    #[serde(default)]
    pub first: Option<Spanned<u64>>,
    /// From template: {i} (number in the group), {id}; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub from: Option<Option<Spanned<String>>>,
    /// To template: {i} (number in the group), {id}; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub to: Option<Option<Spanned<String>>>,
    /// Subject template: {i} (number in the group), {id}; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub subject: Option<Option<Spanned<String>>>,
    /// Date template: {i} (number in the group), {id}; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub date: Option<Option<Spanned<String>>>,
    /// Message-ID template: {i} (number in the group), {id}; null leaves the header out
    #[serde(default, deserialize_with = "explicit_null")]
    #[schemars(with = "Nullable<String>")]
    pub message_id: Option<Option<Spanned<String>>>,
    /// extra header line templates
    #[serde(default)]
    pub headers: Option<Spanned<Vec<Spanned<String>>>>,
    /// body template
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    /// a size, or a pattern: alternate, random with seed, or from with step; run holds
    /// each size for that many messages
    #[serde(default)]
    pub size: Option<Spanned<SizeDef>>,
    /// how the line ends of the templates are written (default crlf)
    #[serde(default)]
    #[schemars(extend("enum" = ["crlf", "lf"]))]
    pub line_ending: Option<Spanned<LineEnding>>,
    /// every n-th message repeats the one before it (same headers and size)
    #[serde(default)]
    #[schemars(transform = super::schema::at_least_two_apart)]
    pub duplicates: Option<Spanned<EveryDef>>,
    /// template of each message's own UIDL
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

impl JsonSchema for SizeDef {
    fn schema_name() -> Cow<'static, str> {
        "SizeDef".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        one_of([
            described(g.subschema_for::<u64>(), "every message this size"),
            g.subschema_for::<SizePattern>(),
        ])
    }
}

/// A size pattern: exactly one of alternate, random (with seed) or from (with step); run
/// holds each size for that many messages in a row.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizePattern {
    /// sizes in turn
    #[serde(default)]
    pub alternate: Option<Spanned<Vec<Spanned<u64>>>>,
    /// [min, max]
    #[serde(default)]
    #[schemars(length(equal = 2))]
    pub random: Option<Spanned<Vec<Spanned<u64>>>>,
    /// seed of random
    #[serde(default)]
    pub seed: Option<Spanned<u64>>,
    /// first size
    #[serde(default)]
    pub from: Option<Spanned<u64>>,
    /// added for each next size
    #[serde(default)]
    pub step: Option<Spanned<i64>>,
    /// messages in a row with one size
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub run: Option<Spanned<u64>>,
}

/// `{ "oneOf": branches }`: the alternatives of a type read by a hand-written visitor,
/// one per kind of YAML node (so exactly one can match).
fn one_of<const N: usize>(branches: [Schema; N]) -> Schema {
    json_schema!({ "oneOf": Vec::from(branches) })
}

/// `schema` with its own description.
fn described(mut schema: Schema, description: &str) -> Schema {
    schema.insert("description".into(), description.into());
    schema
}
