//! Types every layer shares: where a source service is ([`Endpoint`]), which imapc
//! configuration Dovecot runs with ([`ImapcProfile`], and [`ProfileChoice`] where a
//! scenario or a command line may ask for both), which Dovecot is modelled
//! ([`DovecotVersion`]), and which mailbox format the destination writes
//! ([`Destination`], with what it keeps of a UIDL: [`Stored`]). The readers, the pipeline, the scenarios, the CLI and the
//! real-Dovecot runner all take them from here, so none has to import another's.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::secret::Secret;
use crate::tls::Security;

/// One side of the source: where imapc or pop3c connects, and as whom.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// An IP address is best: a host name makes pop3c resolve it (see the interop note).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    /// `imapc_ssl` / `pop3c_ssl`: no, imaps/pop3s, or starttls. pop3c over TLS is
    /// unreliable in 2.3.19.1 (see `dovecot::oracle`); imapc over TLS is fine.
    pub security: Security,
}

impl Endpoint {
    /// A plain-text endpoint on 127.0.0.1.
    pub fn local(port: u16, user: impl Into<String>, password: Secret) -> Self {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
            user: user.into(),
            password,
            security: Security::Plain,
        }
    }

    /// `host:port`, as error messages name the server.
    pub fn server_name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Where the sizes the plugin's size pass compares come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sizing {
    /// The server's `RFC822.SIZE` (2.3's `rfc822.size` feature, 2.4's `fetch-size`).
    Rfc822Size,
    /// Measured on the downloaded `BODY[]`, any `X-Message-Flag:` header stripped first
    /// (2.3's default, 2.4's `no-fetch-size`).
    Download,
}

/// What an imapc configuration means to the plugin's inputs, as the settings say it:
/// how sizes are fetched and `mail_prefetch_count`. imapc asks for `prefetch + 1` UIDs
/// a command (sizes and headers) and pop3c keeps `prefetch + 1` commands in flight
/// (measured, `docs/dovecot-versions.md` "Sizing").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Imapc {
    pub sizing: Sizing,
    /// `mail_prefetch_count` (0, Dovecot's default in both versions, means one UID a
    /// command).
    pub prefetch: u32,
}

impl Imapc {
    /// The recipe of Dovecot's documentation: RFC822.SIZE, prefetch 20.
    pub const DOCS: Imapc = Imapc {
        sizing: Sizing::Rfc822Size,
        prefetch: 20,
    };
    /// 2.3's defaults (2.4's `no-fetch-size`): sizes by download, one UID a command.
    pub const BARE: Imapc = Imapc {
        sizing: Sizing::Download,
        prefetch: 0,
    };
    /// 2.4's defaults: RFC822.SIZE, one UID a command.
    pub const DEFAULTS_2_4: Imapc = Imapc {
        sizing: Sizing::Rfc822Size,
        prefetch: 0,
    };

    /// UIDs a size or header command names, and POP3 commands in flight (when the
    /// server pipelines): `mail_prefetch_count + 1`, kept to a sane bound.
    pub fn batch(self) -> usize {
        (self.prefetch as usize).saturating_add(1).min(MAX_BATCH)
    }

    /// What `imapc_features` and `mail_prefetch_count` (as written; `None` when
    /// unset) mean under `version`: 2.3 sizes from RFC822.SIZE only with
    /// `rfc822.size`, 2.4 unless `no-fetch-size`. A feature name the version refuses
    /// is not looked at here (see the configuration reader's refusal).
    pub fn from_settings(version: DovecotVersion, features: Option<&str>, prefetch: u32) -> Imapc {
        let has = |name: &str| {
            features
                .unwrap_or("")
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|n| n.eq_ignore_ascii_case(name))
        };
        let rfc822 = match version {
            DovecotVersion::V2_3 => has("rfc822.size"),
            DovecotVersion::V2_4 => !has("no-fetch-size"),
        };
        Imapc {
            sizing: if rfc822 {
                Sizing::Rfc822Size
            } else {
                Sizing::Download
            },
            prefetch,
        }
    }

    /// The profile name this configuration is under `version`, if it is one: reports
    /// name `docs`, `bare` or (2.4 only; 2.3's defaults are `bare`) `defaults`.
    pub fn profile_name(self, version: DovecotVersion) -> Option<&'static str> {
        [
            ImapcProfile::Docs,
            ImapcProfile::Bare,
            ImapcProfile::Defaults,
        ]
        .into_iter()
        .find(|p| p.imapc(version) == self)
        .map(|p| p.imapc_name(version))
    }

    /// How a report names it: the profile's name, else the two settings.
    pub fn name(self, version: DovecotVersion) -> String {
        match self.profile_name(version) {
            Some(n) => n.to_string(),
            None => format!(
                "{} sizes, mail_prefetch_count {}",
                match self.sizing {
                    Sizing::Rfc822Size => "RFC822.SIZE",
                    Sizing::Download => "downloaded",
                },
                self.prefetch
            ),
        }
    }
}

/// The most UIDs a command names whatever `mail_prefetch_count` says (a reader bound;
/// Dovecot's own prefetch is bounded by memory only).
const MAX_BATCH: usize = 1000;

/// A named imapc configuration: `docs` (the documentation's recipe), `bare` (2.3's
/// defaults; 2.4 with `no-fetch-size`) or `defaults` (the version's own: 2.3's are
/// `bare`, 2.4's are RFC822.SIZE one UID a command). The variants carry no doc comment
/// of their own: clap would print it in `--help`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ImapcProfile {
    Docs,
    #[default]
    Bare,
    Defaults,
}

impl ImapcProfile {
    /// Both, in the order scenarios and reports list them.
    pub const ALL: [ImapcProfile; 2] = [ImapcProfile::Docs, ImapcProfile::Bare];

    pub fn name(self) -> &'static str {
        match self {
            ImapcProfile::Docs => "docs",
            ImapcProfile::Bare => "bare",
            ImapcProfile::Defaults => "defaults",
        }
    }

    /// The configuration this name stands for under `version`.
    pub fn imapc(self, version: DovecotVersion) -> Imapc {
        match (self, version) {
            (ImapcProfile::Docs, _) => Imapc::DOCS,
            (ImapcProfile::Bare, _) | (ImapcProfile::Defaults, DovecotVersion::V2_3) => Imapc::BARE,
            (ImapcProfile::Defaults, DovecotVersion::V2_4) => Imapc::DEFAULTS_2_4,
        }
    }

    /// The name a report gives this profile under `version`: 2.3's defaults are
    /// `bare`, so that 2.3's reports read as before.
    pub fn imapc_name(self, version: DovecotVersion) -> &'static str {
        match (self, version) {
            (ImapcProfile::Defaults, DovecotVersion::V2_3) => ImapcProfile::Bare.name(),
            _ => self.name(),
        }
    }
}

/// Which imapc profiles a scenario's prediction, or a command, is about:
/// `docs` (the migration recipe of Dovecot's documentation: `imapc_features =
/// rfc822.size`, whose `fetch-headers` the plugin doesn't feel, and
/// `mail_prefetch_count = 20`; IMAP sizes are RFC822.SIZE), `bare` (Dovecot 2.3's
/// defaults: IMAP sizes are measured by downloading `BODY[]` with any
/// `X-Message-Flag:` header stripped first, one message per command), `defaults` (the
/// version's own: 2.3's are `bare`; 2.4's size by RFC822.SIZE one UID a command) or
/// `both` (the prediction must hold for docs and bare, and under 2.4 for its defaults
/// too). The variants carry no doc comment of their own: clap would print it in
/// `--help`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(
    description = "docs: the documentation's recipe (IMAP sizes are RFC822.SIZE); \
    bare: Dovecot 2.3's defaults (IMAP sizes by downloading); defaults: the version's own \
    (2.3: bare; 2.4: RFC822.SIZE, one UID a command); both: the prediction must hold for \
    docs and bare (and under 2.4 for its defaults)"
)]
pub enum ProfileChoice {
    Docs,
    Bare,
    Defaults,
    #[default]
    Both,
}

impl ProfileChoice {
    /// The concrete profiles this stands for, docs first (2.3's view: its defaults
    /// are `bare`).
    pub fn concrete(self) -> &'static [ImapcProfile] {
        self.concrete_for(DovecotVersion::V2_3)
    }

    /// The concrete profiles this stands for under `version`, docs first. Under 2.4,
    /// `both` adds 2.4's own defaults last: they are a third batching (RFC822.SIZE one
    /// UID a command), which events and faults tied to a command can tell apart.
    pub fn concrete_for(self, version: DovecotVersion) -> &'static [ImapcProfile] {
        match (self, version) {
            (ProfileChoice::Docs, _) => &[ImapcProfile::Docs],
            (ProfileChoice::Bare, _) => &[ImapcProfile::Bare],
            (ProfileChoice::Defaults, _) => &[ImapcProfile::Defaults],
            (ProfileChoice::Both, DovecotVersion::V2_3) => &ImapcProfile::ALL,
            (ProfileChoice::Both, DovecotVersion::V2_4) => &[
                ImapcProfile::Docs,
                ImapcProfile::Bare,
                ImapcProfile::Defaults,
            ],
        }
    }

    /// Whether `profile` is among those chosen (under any version).
    pub fn includes(self, profile: ImapcProfile) -> bool {
        self.concrete_for(DovecotVersion::V2_4).contains(&profile)
    }
}

impl From<ImapcProfile> for ProfileChoice {
    fn from(p: ImapcProfile) -> Self {
        match p {
            ImapcProfile::Docs => ProfileChoice::Docs,
            ImapcProfile::Bare => ProfileChoice::Bare,
            ImapcProfile::Defaults => ProfileChoice::Defaults,
        }
    }
}

/// The mail storage `doveadm backup` writes on the destination (`mail_location =
/// maildir:…`, `sdbox:…`, `mdbox:…`). It decides what is kept of each UIDL the plugin
/// hands over (`docs/dsync.md`, measured with real Dovecot 2.3.19.1 and 2.4.1).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    clap::ValueEnum,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(
    description = "maildir, sdbox or mdbox: the destination's mail storage, which \
    decides what is kept of each UIDL the plugin hands over"
)]
pub enum Destination {
    #[default]
    Maildir,
    Sdbox,
    Mdbox,
}

/// What a destination keeps of a UIDL, as `doveadm fetch pop3.uidl` reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored<'a> {
    /// The UIDL, or what is left of it.
    Uidl(&'a str),
    /// An empty `P` field in a maildir's dovecot-uidlist: Dovecot serves the maildir
    /// file name instead.
    FileName,
}

impl Destination {
    /// All three, in the order reports and tests list them.
    pub const ALL: [Destination; 3] =
        [Destination::Maildir, Destination::Sdbox, Destination::Mdbox];

    /// `maildir`, `sdbox` or `mdbox`: the `mail_location` scheme.
    pub fn name(self) -> &'static str {
        match self {
            Destination::Maildir => "maildir",
            Destination::Sdbox => "sdbox",
            Destination::Mdbox => "mdbox",
        }
    }

    /// What this destination keeps of a non-empty UIDL (dsync never stores an empty
    /// one).
    ///
    /// - maildir: `dovecot-uidlist` has no escaping, so a `P<uidl>` field ends at the
    ///   first space, and an empty `P` (a UIDL that starts with a space) means "use the
    ///   file name" (spec §9, §11);
    /// - sdbox, mdbox: the UIDL is one `P<uidl>` line of the message's dbox metadata,
    ///   read back whole: spaces (leading, inner, trailing), tabs, 8-bit bytes and long
    ///   values are kept as the plugin gave them. pop3c ends a UIDL at its line's LF and
    ///   drops a final CR, so no UIDL can split a metadata line.
    pub fn keeps(self, uidl: &str) -> Stored<'_> {
        match self {
            Destination::Maildir => match uidl.split(' ').next().unwrap_or("") {
                "" => Stored::FileName,
                kept => Stored::Uidl(kept),
            },
            Destination::Sdbox | Destination::Mdbox => Stored::Uidl(uidl),
        }
    }

    /// Whether the destination keeps `uidl` exactly as given.
    pub fn keeps_whole(self, uidl: &str) -> bool {
        self.keeps(uidl) == Stored::Uidl(uidl)
    }

    /// Whether a mailbox name level can hold `c` as it is in this destination's
    /// default layout. Maildir++ (maildir's) keeps the hierarchy as `.` on disk, so
    /// dsync writes a `.` inside a level as `_` (its `alt_char`); sdbox and mdbox use
    /// the fs layout, where only `/` separates. Measured with Dovecot 2.3.19.1
    /// (`docs/dsync.md`): `v1.2` is stored as `v1_2` in maildir and as `v1.2` in sdbox
    /// and mdbox. A `/` inside a level becomes `_` on every destination (the namespace
    /// separator is `/`).
    pub fn holds_in_name(self, c: char) -> bool {
        match c {
            '/' => false,
            '.' => self != Destination::Maildir,
            c => (c as u32) >= 0x20,
        }
    }

    /// The name under which `doveadm backup` stores a source mailbox here (namespace
    /// separator `/`, the default layout), as `doveadm fetch mailbox` shows it after the
    /// migration.
    ///
    /// dsync splits the source name at the source's separator, joins the levels with
    /// `/`, and writes each character a level cannot hold ([`Destination::holds_in_name`])
    /// as `_`, its `alt_char` (`dsync_get_mailbox_name`, `dsync_fix_mailbox_name` in
    /// `dsync-brain-mailbox-tree.c`). Evidence: Dovecot 2.3.19.1, `uidlmap conformance
    /// --random 100 --seed 1`: with separator `.` the source's `Archive.2024` was stored
    /// as `Archive/2024` (world random-1-11); with separator `/` on maildir, `v1.2` as
    /// `v1_2` (random-1-91) and `a b/c.d` as `a b/c_d` (random-1-14); sdbox and mdbox keep
    /// `v1.2` (`docs/dsync.md`). Regressions: `scenarios/folders/stored-names-*.yaml`,
    /// `scenarios/destinations/folder-dots-sdbox.yaml`.
    pub fn stored_name(self, name: &str, separator: Option<char>) -> String {
        let levels: Vec<&str> = match separator {
            Some(sep) => name.split(sep).collect(),
            None => vec![name],
        };
        levels
            .iter()
            .map(|level| {
                level
                    .chars()
                    .map(|c| if self.holds_in_name(c) { c } else { '_' })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The destination named by a Dovecot `mail_location` value (`sdbox:~/mail`), if it
    /// is one of the three.
    pub fn from_mail_location(location: &str) -> Option<Destination> {
        let scheme = location.trim().split(':').next()?.trim();
        Destination::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(scheme))
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Dovecot release line a prediction is for. 2.3 and 2.4 share the plugin's passes but
/// differ in configuration syntax, imapc defaults, setting parsing and exit codes
/// (`docs/dovecot-versions.md`). The real-Dovecot runner adds how to run each
/// (`dovecot::DovecotVersion::root` and friends). 2.4.3 and later also NFC-normalise
/// `pop3_migration_mailbox`; 2.4.1, the 2.4 modelled, does not, and neither does the
/// model. The variants carry no doc comment of their own: clap would print it in `--help`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum DovecotVersion {
    // 2.3.19.1 (Debian 12).
    #[default]
    #[value(name = "2.3")]
    V2_3,
    // 2.4.1 (Debian 13).
    #[value(name = "2.4")]
    V2_4,
}

impl DovecotVersion {
    /// Both, oldest first, as reports and scenarios list them.
    pub const ALL: [DovecotVersion; 2] = [DovecotVersion::V2_3, DovecotVersion::V2_4];

    /// The imapc profile of this version's defaults (no `imapc_features`): 2.3 sizes by
    /// download (`bare`), 2.4 by RFC822.SIZE (`docs`: its `fetch-size` is on unless
    /// `no-fetch-size`).
    pub fn default_profile(self) -> ImapcProfile {
        match self {
            DovecotVersion::V2_3 => ImapcProfile::Bare,
            DovecotVersion::V2_4 => ImapcProfile::Docs,
        }
    }

    /// doveadm's exit code when imapc's login fails: 2.3.19.1 panics on the way out
    /// (134), 2.4.1 exits 77 (both measured).
    pub fn login_failure_exit(self) -> i32 {
        match self {
            DovecotVersion::V2_3 => 134,
            DovecotVersion::V2_4 => 77,
        }
    }

    /// `2.3` or `2.4`.
    pub fn name(self) -> &'static str {
        match self {
            DovecotVersion::V2_3 => "2.3",
            DovecotVersion::V2_4 => "2.4",
        }
    }

    /// Same as [`DovecotVersion::name`].
    pub fn as_str(self) -> &'static str {
        self.name()
    }
}

impl std::fmt::Display for DovecotVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DovecotVersion {
    type Err = String;

    /// `2.3` or `2.4`, or a full release of either line (`2.3.19.1`, `2.4.1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        for v in DovecotVersion::ALL {
            let line = v.name();
            if s == line || s.strip_prefix(line).is_some_and(|r| r.starts_with('.')) {
                return Ok(v);
            }
        }
        Err(format!(
            "unknown Dovecot version {s:?}: expected 2.3 or 2.4"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_versions() {
        assert_eq!(ProfileChoice::default(), ProfileChoice::Both);
        assert_eq!(ProfileChoice::Both.concrete(), ImapcProfile::ALL);
        assert_eq!(ProfileChoice::Bare.concrete(), [ImapcProfile::Bare]);
        assert!(!ProfileChoice::Docs.includes(ImapcProfile::Bare));
        assert_eq!("2.4".parse(), Ok(DovecotVersion::V2_4));
        assert_eq!(DovecotVersion::default().name(), "2.3");
        assert!("3.0".parse::<DovecotVersion>().is_err());
    }

    #[test]
    fn imapc_configurations_per_version() {
        use DovecotVersion::{V2_3, V2_4};
        // The named profiles; 2.3's defaults are bare's, 2.4's their own.
        assert_eq!(ImapcProfile::Defaults.imapc(V2_3), Imapc::BARE);
        assert_eq!(ImapcProfile::Defaults.imapc(V2_4), Imapc::DEFAULTS_2_4);
        assert_eq!(ImapcProfile::Defaults.imapc_name(V2_3), "bare");
        assert_eq!(Imapc::DEFAULTS_2_4.name(V2_4), "defaults");
        assert_eq!(Imapc::DOCS.batch(), 21);
        assert_eq!(Imapc::BARE.batch(), 1);
        // What imapc_features means per version.
        let f = |v, features, prefetch| Imapc::from_settings(v, features, prefetch);
        assert_eq!(f(V2_3, Some("rfc822.size fetch-headers"), 20), Imapc::DOCS);
        assert_eq!(f(V2_3, None, 0), Imapc::BARE);
        assert_eq!(f(V2_4, None, 0), Imapc::DEFAULTS_2_4);
        assert_eq!(
            f(V2_4, Some("No-Fetch-Size,gmail-migration"), 0),
            Imapc::BARE
        );
        assert_eq!(f(V2_4, None, 20), Imapc::DOCS);
        let odd = f(V2_4, Some("no-fetch-size"), 7);
        assert_eq!(odd.batch(), 8);
        assert_eq!(odd.name(V2_4), "downloaded sizes, mail_prefetch_count 7");
        assert_eq!(f(V2_3, None, u32::MAX).batch(), MAX_BATCH);
        // `both` adds 2.4's defaults under 2.4 only.
        assert_eq!(ProfileChoice::Both.concrete_for(V2_3), ImapcProfile::ALL);
        assert_eq!(
            ProfileChoice::Both.concrete_for(V2_4).last(),
            Some(&ImapcProfile::Defaults)
        );
        assert!(ProfileChoice::Both.includes(ImapcProfile::Defaults));
    }

    #[test]
    fn what_each_destination_keeps() {
        let md = Destination::Maildir;
        assert_eq!(md.keeps("abc def"), Stored::Uidl("abc"));
        assert_eq!(md.keeps(" u1"), Stored::FileName);
        assert_eq!(md.keeps("x\tY~!"), Stored::Uidl("x\tY~!"));
        assert!(!md.keeps_whole("abc "));
        for d in [Destination::Sdbox, Destination::Mdbox] {
            for u in ["abc def", " u1", "abc ", "caf\u{e9}", "x\tY"] {
                assert_eq!(d.keeps(u), Stored::Uidl(u), "{d} {u:?}");
            }
        }
        assert_eq!(Destination::default(), Destination::Maildir);
        assert_eq!(
            Destination::from_mail_location(" mdbox:~/mdbox"),
            Some(Destination::Mdbox)
        );
        assert_eq!(Destination::from_mail_location("mbox:~/mail"), None);
        let maildir = Destination::Maildir;
        assert_eq!(
            maildir.stored_name("Archive.2024", Some('.')),
            "Archive/2024"
        );
        assert_eq!(maildir.stored_name("Q1/Q2", Some('.')), "Q1_Q2");
        assert_eq!(maildir.stored_name("v1.2", Some('/')), "v1_2");
        assert_eq!(maildir.stored_name("a b/c.d", Some('/')), "a b/c_d");
        assert_eq!(maildir.stored_name("Entwürfe", Some('/')), "Entwürfe");
        assert_eq!(maildir.stored_name("INBOX", None), "INBOX");
        assert_eq!(Destination::Sdbox.stored_name("v1.2", Some('/')), "v1.2");
        assert_eq!(Destination::Mdbox.stored_name("Q1/Q2", Some('.')), "Q1_Q2");
        assert!(!Destination::Maildir.holds_in_name('.'));
        assert!(Destination::Sdbox.holds_in_name('.') && Destination::Mdbox.holds_in_name('.'));
        assert!(!Destination::Sdbox.holds_in_name('/'));
        assert!(Destination::Maildir.holds_in_name('ü'));
    }
}
