//! The server knobs of a scenario (`server:`), defined once.
//!
//! One table per fake server lists every knob: its type and default, the JSON Schema's
//! words for it, and the fake-server option it sets. From that table come the knobs a
//! [`Scenario`](super::Scenario) holds ([`Pop3Knobs`], [`ImapKnobs`]), the shape the file
//! is parsed into ([`Pop3ServerDef`], [`ImapServerDef`], with positions for the loader's
//! checks and the schema's words as each key's description, from which the JSON Schema is
//! derived), and the mapping onto [`Pop3Options`] and [`ImapOptions`]. Adding a knob is
//! adding a row; the checks a value needs beyond its type (a positive count, one line of
//! text) live with the loader (`load/knobs.rs`).

use std::time::Duration;

use fake_servers::imap::{ImapOptions, TlsMode};
use fake_servers::pop3::{Pop3Options, Pop3Tls};
use fake_servers::tls::TestCa;
use schemars::JsonSchema;
use serde::Deserialize;

use super::format::Spanned;

/// A type a knob can have: how a file writes it (which is also its JSON Schema).
pub trait Knob: Sized {
    /// The field as parsed, with its position for the loader's checks; `Default` is
    /// "not written".
    type Written: Default + JsonSchema;
    /// The value written, or `default` when the file leaves it out.
    fn read(written: &Self::Written, default: Self) -> Self;
}

impl Knob for bool {
    type Written = Option<Spanned<bool>>;
    fn read(written: &Self::Written, default: Self) -> Self {
        written.as_ref().map_or(default, |v| v.value)
    }
}

/// A byte count (`split_writes`).
impl Knob for Option<usize> {
    type Written = Option<Spanned<u64>>;
    fn read(written: &Self::Written, default: Self) -> Self {
        written.as_ref().map(|v| v.value as usize).or(default)
    }
}

/// A number of milliseconds.
impl Knob for Option<u64> {
    type Written = Option<Spanned<u64>>;
    fn read(written: &Self::Written, default: Self) -> Self {
        written.as_ref().map(|v| v.value).or(default)
    }
}

impl Knob for Option<String> {
    type Written = Option<Spanned<String>>;
    fn read(written: &Self::Written, default: Self) -> Self {
        written.as_ref().map(|v| v.value.clone()).or(default)
    }
}

/// A list of words; leaving it out and writing `[]` are the same.
impl Knob for Vec<String> {
    type Written = Vec<Spanned<String>>;
    fn read(written: &Self::Written, default: Self) -> Self {
        if written.is_empty() {
            default
        } else {
            written.iter().map(|v| v.value.clone()).collect()
        }
    }
}

/// Defines one server's knobs from a table of rows
/// `name: type = default, "schema words", |options, value| what it sets;`.
macro_rules! knobs {
    (
        $(#[$meta:meta])*
        pub struct $knobs:ident;
        $(#[$written_meta:meta])*
        pub struct $written:ident;
        sets $options:ty {
            $(
                $(#[$doc:meta])*
                $name:ident: $ty:ty = $default:expr, $schema:literal,
                    |$o:ident, $v:ident| $set:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $knobs {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl Default for $knobs {
            fn default() -> Self {
                $knobs { $( $name: $default, )* }
            }
        }

        $(#[$written_meta])*
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $written {
            $( #[doc = $schema] #[serde(default)] pub $name: <$ty as Knob>::Written, )*
        }

        impl $knobs {
            /// The knobs a file asks for: what it writes, the defaults for the rest.
            pub fn read(written: &$written) -> Self {
                let default = Self::default();
                $knobs { $( $name: Knob::read(&written.$name, default.$name), )* }
            }

            /// Sets the fake server's options these knobs stand for.
            pub fn apply(&self, options: &mut $options) {
                $({
                    let $o = &mut *options;
                    let $v = self.$name.clone();
                    $set;
                })*
            }
        }
    };
}

knobs! {
    /// POP3 server behaviour a scenario asks for (`server.pop3:`). The defaults are what
    /// Dovecot offers: everything on, plain text, no shaping.
    pub struct Pop3Knobs;
    /// POP3 server behaviour (`server.pop3:` as written).
    pub struct Pop3ServerDef;
    sets Pop3Options {
        /// Answer CAPA; `false` answers `-ERR` (pop3c then assumes UIDL only: no TOP, no
        /// pipelining).
        capa: bool = true, "answer CAPA (false: -ERR)", |o, v| o.caps.capa = v;
        /// List TOP in CAPA and answer TOP; `false` leaves it out and refuses TOP.
        top: bool = true, "offer TOP", |o, v| o.caps.top = v;
        /// List UIDL in CAPA and answer UIDL; `false` leaves it out and refuses UIDL.
        uidl: bool = true, "offer UIDL", |o, v| o.caps.uidl = v;
        /// List PIPELINING in CAPA.
        pipelining: bool = true, "advertise PIPELINING", |o, v| o.caps.pipelining = v;
        /// Advertise PIPELINING but lose every command that arrived behind the one being
        /// answered (provider-quirks #26).
        broken_pipelining: bool = false,
            "advertise PIPELINING but lose commands sent ahead",
            |o, v| o.broken_pipelining = v;
        /// Offer STLS (the server runs in STLS mode when the run has a test CA).
        stls: bool = false, "offer STLS", |o, v| o.caps.stls = v;
        /// List RESP-CODES in CAPA and put `[...]` codes in replies.
        resp_codes: bool = true, "advertise RESP-CODES", |o, v| o.caps.resp_codes = v;
        /// End reply lines with LF only.
        bare_lf: bool = false, "end reply lines with LF only", |o, v| o.shaping.bare_lf = v;
        /// Write replies in pieces of at most this many bytes.
        split_writes: Option<usize> = None,
            "write replies in pieces of this many bytes",
            |o, v| o.shaping.chunk = v;
        /// Pause between those pieces.
        split_delay_ms: Option<u64> = None,
            "pause between those pieces",
            |o, v| o.shaping.chunk_delay = v.map(Duration::from_millis);
        /// Close a session silent for this long (provider-quirks #38).
        idle_timeout_ms: Option<u64> = None,
            "close a session silent for this long",
            |o, v| o.idle_timeout = v.map(Duration::from_millis);
        /// Delay every byte this long each way: a far provider (a round trip is twice this).
        latency_ms: Option<u64> = None, "delay every byte this long each way",
            |o, v| o.link.latency = Duration::from_millis(v.unwrap_or_default());
        /// Carry at most this many kilobytes (1,000 bytes) a second each way.
        bandwidth_kb_s: Option<u64> = None, "kilobytes a second each way",
            |o, v| o.link.bandwidth = v.map(|k| k.saturating_mul(1000));
        /// The greeting text after `+OK `; `None` = the server's default.
        banner: Option<String> = None,
            "greeting text after +OK",
            |o, v| if let Some(b) = v { o.greeting = b };
    }
}

knobs! {
    /// IMAP server behaviour a scenario asks for (`server.imap:`). The defaults are close
    /// to what Dovecot announces, without SAVEDATE.
    pub struct ImapKnobs;
    /// IMAP server behaviour (`server.imap:` as written).
    pub struct ImapServerDef;
    sets ImapOptions {
        /// Put `[CAPABILITY …]` in the greeting (without it imapc sends CAPABILITY first).
        greeting_capability: bool = true,
            "[CAPABILITY ...] in the greeting",
            |o, v| o.greeting_capability = v;
        /// Announce LITERAL+.
        literal_plus: bool = true,
            "announce LITERAL+",
            |o, v| o.capabilities.literal_plus = v;
        /// Announce SASL-IR.
        sasl_ir: bool = true, "announce SASL-IR", |o, v| o.capabilities.sasl_ir = v;
        /// Announce AUTH=PLAIN (and accept AUTHENTICATE PLAIN).
        auth_plain: bool = true,
            "announce AUTH=PLAIN",
            |o, v| o.capabilities.auth_plain = v;
        /// Announce SAVEDATE (imapc then asks for it in its downloads).
        savedate: bool = false, "announce SAVEDATE", |o, v| o.capabilities.savedate = v;
        /// Further capability words, e.g. `X-GM-EXT-1`.
        extra_capabilities: Vec<String> = Vec::new(),
            "further capability words",
            |o, v| o.capabilities.extra = v;
        /// Offer STARTTLS (the server runs in STARTTLS mode when the run has a test CA).
        starttls: bool = false, "offer STARTTLS", |o, v| o.capabilities.starttls = v;
        /// Send `[UIDNEXT n]` on EXAMINE; without it imapc asks STATUS (UIDNEXT).
        uidnext_on_select: bool = true,
            "send [UIDNEXT n] on EXAMINE",
            |o, v| o.uidnext_on_select = v;
        /// End protocol lines with LF only.
        bare_lf: bool = false, "end protocol lines with LF only", |o, v| o.bare_lf = v;
        /// Write replies in pieces of at most this many bytes.
        split_writes: Option<usize> = None,
            "write replies in pieces of this many bytes",
            |o, v| o.write_chunk = v;
        /// Close a session silent for this long; `None` = the server's default.
        idle_timeout_ms: Option<u64> = None,
            "close a session silent for this long",
            |o, v| if let Some(ms) = v { o.idle_timeout = Duration::from_millis(ms) };
        /// Delay every byte this long each way: a far provider (a round trip is twice this).
        latency_ms: Option<u64> = None, "delay every byte this long each way",
            |o, v| o.link.latency = Duration::from_millis(v.unwrap_or_default());
        /// Carry at most this many kilobytes (1,000 bytes) a second each way.
        bandwidth_kb_s: Option<u64> = None, "kilobytes a second each way",
            |o, v| o.link.bandwidth = v.map(|k| k.saturating_mul(1000));
    }
}

/// Both servers' knobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerKnobs {
    pub pop3: Pop3Knobs,
    pub imap: ImapKnobs,
}

impl ServerKnobs {
    /// The fake servers' options for these knobs. STLS and STARTTLS are served only with
    /// a test CA: the certificate belongs to the run, not to the file.
    pub fn options(&self, ca: Option<&TestCa>) -> (Pop3Options, ImapOptions) {
        let mut pop3 = Pop3Options::default();
        self.pop3.apply(&mut pop3);
        if let (true, Some(ca)) = (self.pop3.stls, ca) {
            pop3.tls = Pop3Tls::Stls(ca.acceptor());
        }
        let mut imap = ImapOptions::default();
        self.imap.apply(&mut imap);
        if let (true, Some(ca)) = (self.imap.starttls, ca) {
            imap.tls = TlsMode::StartTls(ca.clone());
        }
        (pop3, imap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_set_the_servers_as_before() {
        let (pop3, imap) = ServerKnobs::default().options(None);
        let fake = Pop3Options::default();
        assert_eq!(pop3.greeting, fake.greeting);
        assert!(pop3.caps.capa && pop3.caps.top && pop3.caps.uidl && pop3.caps.pipelining);
        assert!(!pop3.caps.stls, "a scenario offers STLS only when it asks");
        assert!(matches!(pop3.tls, Pop3Tls::None));
        assert_eq!(pop3.shaping, Default::default());
        assert_eq!(pop3.idle_timeout, None);
        assert!(!imap.capabilities.starttls && !imap.capabilities.savedate);
        assert_eq!(imap.idle_timeout, ImapOptions::default().idle_timeout);
        assert!(matches!(imap.tls, TlsMode::None));
    }

    #[test]
    fn every_knob_reaches_its_option() {
        let mut k = ServerKnobs::default();
        k.pop3.banner = Some("hi".into());
        k.pop3.split_writes = Some(3);
        k.pop3.split_delay_ms = Some(2);
        k.pop3.idle_timeout_ms = Some(40);
        k.pop3.broken_pipelining = true;
        k.imap.extra_capabilities = vec!["X-GM-EXT-1".into()];
        k.imap.idle_timeout_ms = Some(50);
        k.imap.split_writes = Some(7);
        k.pop3.bandwidth_kb_s = Some(10);
        k.imap.bandwidth_kb_s = Some(20);
        let (pop3, imap) = k.options(None);
        assert_eq!(pop3.greeting, "hi");
        assert_eq!(pop3.shaping.chunk, Some(3));
        assert_eq!(pop3.shaping.chunk_delay, Some(Duration::from_millis(2)));
        assert_eq!(pop3.idle_timeout, Some(Duration::from_millis(40)));
        assert!(pop3.broken_pipelining);
        assert_eq!(imap.capabilities.extra, ["X-GM-EXT-1"]);
        assert_eq!(imap.idle_timeout, Duration::from_millis(50));
        assert_eq!(imap.write_chunk, Some(7));
        assert_eq!(pop3.link.bandwidth, Some(10_000));
        assert_eq!(imap.link.bandwidth, Some(20_000));
    }

    #[test]
    fn the_schema_lists_every_knob() {
        let schema = crate::scenario::json_schema();
        let p = &schema["$defs"]["Pop3ServerDef"]["properties"];
        assert_eq!(p.as_object().map(|o| o.len()), Some(14));
        assert_eq!(p["split_writes"]["type"], "integer");
        assert_eq!(p["banner"]["description"], "greeting text after +OK");
        let i = &schema["$defs"]["ImapServerDef"]["properties"];
        assert_eq!(i.as_object().map(|o| o.len()), Some(13));
        assert_eq!(i["extra_capabilities"]["type"], "array");
    }
}
