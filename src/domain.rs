//! Types every layer shares: where a source service is ([`Endpoint`]), which imapc
//! configuration Dovecot runs with ([`ImapcProfile`], and [`ProfileChoice`] where a
//! scenario or a command line may ask for both), and which Dovecot is modelled
//! ([`DovecotVersion`]). The readers, the pipeline, the scenarios, the CLI and the
//! real-Dovecot runner all take them from here, so none has to import another's.

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

/// How imapc fetches: this changes which IMAP commands the plugin's inputs come from
/// (and so the sizes the size pass compares).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ImapcProfile {
    /// `imapc_features = rfc822.size`: sizes are the server's RFC822.SIZE.
    Docs,
    /// Dovecot 2.3's defaults: sizes measured on the downloaded message.
    #[default]
    Bare,
}

impl ImapcProfile {
    /// Both, in the order scenarios and reports list them.
    pub const ALL: [ImapcProfile; 2] = [ImapcProfile::Docs, ImapcProfile::Bare];

    pub fn name(self) -> &'static str {
        match self {
            ImapcProfile::Docs => "docs",
            ImapcProfile::Bare => "bare",
        }
    }
}

/// Which imapc profiles a scenario's prediction, or a command, is about:
/// `docs` (the migration recipe of Dovecot's documentation: `imapc_features =
/// rfc822.size`, whose `fetch-headers` the plugin doesn't feel, and
/// `mail_prefetch_count = 20`; IMAP sizes are RFC822.SIZE), `bare` (Dovecot 2.3's
/// defaults: IMAP sizes are measured by downloading `BODY[]` with any
/// `X-Message-Flag:` header stripped first, one message per command) or `both` (the
/// prediction must hold for both). The variants carry no doc comment of their own:
/// clap would print it in `--help`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProfileChoice {
    Docs,
    Bare,
    #[default]
    Both,
}

impl ProfileChoice {
    /// The concrete profiles this stands for, docs first.
    pub fn concrete(self) -> &'static [ImapcProfile] {
        match self {
            ProfileChoice::Docs => &[ImapcProfile::Docs],
            ProfileChoice::Bare => &[ImapcProfile::Bare],
            ProfileChoice::Both => &ImapcProfile::ALL,
        }
    }

    /// Whether `profile` is among those chosen.
    pub fn includes(self, profile: ImapcProfile) -> bool {
        self.concrete().contains(&profile)
    }
}

impl From<ImapcProfile> for ProfileChoice {
    fn from(p: ImapcProfile) -> Self {
        match p {
            ImapcProfile::Docs => ProfileChoice::Docs,
            ImapcProfile::Bare => ProfileChoice::Bare,
        }
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
}
