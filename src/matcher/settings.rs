//! The plugin's settings, under Dovecot's own names (prefix `pop3_migration_` dropped),
//! with the admin's own spelling of each boolean kept, because Dovecot 2.3 and 2.4 read
//! the same spelling differently (`docs/dovecot-versions.md`, "Plugin booleans"):
//! [`Settings::for_version`] reads them as the version does, [`Settings::misreadings`]
//! says where that is not what the spelling seems to say.

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::DovecotVersion;

/// The six `pop3_migration_*` settings. Defaults are Dovecot's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Settings {
    /// `pop3_migration_mailbox`: the pop3c INBOX; only its presence matters here.
    pub mailbox: String,
    /// `pop3_migration_all_mailboxes`
    pub all_mailboxes: bool,
    /// `pop3_migration_ignore_extra_uidls`
    pub ignore_extra_uidls: bool,
    /// `pop3_migration_ignore_missing_uidls`
    pub ignore_missing_uidls: bool,
    /// `pop3_migration_skip_size_check`
    pub skip_size_check: bool,
    /// `pop3_migration_skip_uidl_cache`
    pub skip_uidl_cache: bool,
    /// Each boolean set by [`Settings::set`], as the admin spelled it (name without the
    /// prefix → value, quotes removed): the flags above hold 2.3's reading of it.
    pub spellings: BTreeMap<String, String>,
}

/// The boolean settings, in the order Dovecot's documentation lists them.
pub const BOOLEAN_SETTINGS: [&str; 5] = [
    "all_mailboxes",
    "ignore_extra_uidls",
    "ignore_missing_uidls",
    "skip_size_check",
    "skip_uidl_cache",
];

/// The prefix Dovecot puts before every setting name.
pub const PREFIX: &str = "pop3_migration_";

/// A setting name or value that is not Dovecot's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error(
        "unknown setting '{0}': expected one of mailbox, all_mailboxes, ignore_extra_uidls, \
         ignore_missing_uidls, skip_size_check, skip_uidl_cache (with or without the \
         pop3_migration_ prefix)"
    )]
    UnknownName(String),
}

/// A configuration the Dovecot version refuses, or cannot log in with: doveadm stops
/// before the plugin reads anything (measured, `docs/dovecot-versions.md`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// 2.4: a boolean other than yes/y/1/no (doveconf's words; exit 89).
    #[error("{PREFIX}{name}: Invalid boolean value: {value} (use yes or no)")]
    InvalidBoolean { name: String, value: String },
    /// 2.4: a `plugin { }` block (exit 89).
    #[error("{at}: Unknown section name: {section}")]
    UnknownSection { at: String, section: String },
    /// A setting this version does not have, e.g. 2.3 given 2.4's `dovecot_config_version`
    /// (doveconf's fatal error, exit 89; not measured for 2.3).
    #[error("{at}: Unknown setting: {name}")]
    UnknownSetting { at: String, name: String },
    /// 2.4: an imapc feature it does not know, e.g. 2.3's `rfc822.size`; found when the
    /// user is initialised (exit 75).
    #[error("imapc_features: Unknown feature: {feature}")]
    UnknownFeature { feature: String },
    /// 2.4.1 sends 2.3's `%u` literally as the IMAP user: the login fails (exit 77).
    #[error(
        "imapc_user = {value}: Dovecot 2.4 sends it literally (2.4 writes %{{user}}): the IMAP login fails"
    )]
    LiteralVariable { value: String },
}

impl ConfigError {
    /// doveadm's exit code.
    pub fn exit(&self) -> i32 {
        match self {
            ConfigError::InvalidBoolean { .. }
            | ConfigError::UnknownSection { .. }
            | ConfigError::UnknownSetting { .. } => 89,
            ConfigError::UnknownFeature { .. } => 75,
            ConfigError::LiteralVariable { .. } => 77,
        }
    }
}

/// 2.3.19.1 reads a plugin boolean by its first character: `n`, `N`, `0`, `f` or `F`
/// mean no, anything else (the empty value included) means yes (measured).
pub fn parse_bool_2_3(value: &str) -> bool {
    !matches!(value.chars().next(), Some('n' | 'N' | '0' | 'f' | 'F'))
}

/// 2.4.1 takes `yes`, `y`, `1` and `no`, in any case, and nothing else (measured:
/// `n`, `0`, `true`, `off` and the empty value are fatal).
pub fn parse_bool_2_4(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "y" | "1" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// How a spelling reads to a person (`off` reads as no, `on` as yes); `None` when it
/// reads as neither (an empty value, `maybe`).
fn reads_as(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "on" | "enable" | "enabled" => Some(true),
        "no" | "n" | "false" | "0" | "off" | "disable" | "disabled" => Some(false),
        _ => None,
    }
}

/// One value as a Dovecot configuration line holds it: trimmed, one pair of double
/// quotes removed (doveconf does so before any parsing).
fn unquoted(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

impl Settings {
    /// Dovecot's defaults with the plugin turned on for `POP3-MIGRATION-NS/INBOX`.
    pub fn enabled() -> Self {
        Settings {
            mailbox: "POP3-MIGRATION-NS/INBOX".to_string(),
            ..Default::default()
        }
    }

    /// Sets one setting by name (with or without `pop3_migration_`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let short = name.trim().strip_prefix(PREFIX).unwrap_or(name.trim());
        if short == "mailbox" {
            self.mailbox = value.to_string();
            return Ok(());
        }
        let value = unquoted(value);
        let slot = self
            .flag_mut(short)
            .ok_or_else(|| SettingError::UnknownName(name.to_string()))?;
        *slot = parse_bool_2_3(value);
        self.spellings.insert(short.to_string(), value.to_string());
        Ok(())
    }

    /// The settings as `version` reads the spellings, or the error it stops with.
    pub fn for_version(&self, version: DovecotVersion) -> Result<Settings, ConfigError> {
        let mut out = self.clone();
        for (name, value) in &self.spellings {
            let on = match version {
                DovecotVersion::V2_3 => parse_bool_2_3(value),
                DovecotVersion::V2_4 => {
                    parse_bool_2_4(value).ok_or_else(|| ConfigError::InvalidBoolean {
                        name: name.clone(),
                        value: value.clone(),
                    })?
                }
            };
            if let Some(slot) = out.flag_mut(name) {
                *slot = on;
            }
        }
        Ok(out)
    }

    /// Spellings that `version` does not read as they read to a person, each said
    /// loudly: the admin meant one thing and Dovecot does another.
    pub fn misreadings(&self, version: DovecotVersion) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.spellings {
            let meant = reads_as(value);
            let shown = if value.is_empty() {
                "an empty value".to_string()
            } else {
                format!("`{value}`")
            };
            match version {
                DovecotVersion::V2_3 => {
                    let read = parse_bool_2_3(value);
                    if meant != Some(read) {
                        let (read, other) = if read { ("YES", "no") } else { ("NO", "yes") };
                        out.push(format!(
                            "{PREFIX}{name} = {value}: Dovecot 2.3 reads {shown} as {read} \
                             (only a first character n, N, 0, f or F means no); write `{}` \
                             for what Dovecot does now, `{other}` for the opposite",
                            read.to_lowercase(),
                        ));
                    }
                }
                DovecotVersion::V2_4 => {
                    if parse_bool_2_4(value).is_none() {
                        out.push(format!(
                            "{PREFIX}{name} = {value}: Dovecot 2.4 refuses {shown} (only yes, \
                             y, 1 and no): doveadm stops with a configuration error (exit \
                             89) and migrates nothing; write {}",
                            match meant {
                                Some(false) => "`no`",
                                Some(true) => "`yes`",
                                None => "`yes` or `no`",
                            }
                        ));
                    }
                }
            }
        }
        out
    }

    /// The spellings as `pop3_migration_NAME = VALUE` pairs, as the admin wrote them.
    pub fn spelled_pairs(&self) -> Vec<(String, String)> {
        self.spellings
            .iter()
            .map(|(n, v)| (format!("{PREFIX}{n}"), v.clone()))
            .collect()
    }

    /// The boolean setting called `short` (prefix dropped).
    pub fn flag(&self, short: &str) -> Option<bool> {
        Some(match short {
            "all_mailboxes" => self.all_mailboxes,
            "ignore_extra_uidls" => self.ignore_extra_uidls,
            "ignore_missing_uidls" => self.ignore_missing_uidls,
            "skip_size_check" => self.skip_size_check,
            "skip_uidl_cache" => self.skip_uidl_cache,
            _ => return None,
        })
    }

    fn flag_mut(&mut self, short: &str) -> Option<&mut bool> {
        Some(match short {
            "all_mailboxes" => &mut self.all_mailboxes,
            "ignore_extra_uidls" => &mut self.ignore_extra_uidls,
            "ignore_missing_uidls" => &mut self.ignore_missing_uidls,
            "skip_size_check" => &mut self.skip_size_check,
            "skip_uidl_cache" => &mut self.skip_uidl_cache,
            _ => return None,
        })
    }

    /// The settings as Dovecot configuration lines would set them: full names, `yes`/`no`,
    /// only those that differ from the defaults, in a stable order.
    pub fn dovecot_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.mailbox.is_empty() {
            out.push((format!("{PREFIX}mailbox"), self.mailbox.clone()));
        }
        for name in BOOLEAN_SETTINGS {
            if self.flag(name) == Some(true) {
                out.push((format!("{PREFIX}{name}"), "yes".to_string()));
            }
        }
        out
    }
}

impl fmt::Display for Settings {
    /// `skip_size_check=yes ignore_extra_uidls=yes`, or `defaults`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<&str> = BOOLEAN_SETTINGS
            .iter()
            .copied()
            .filter(|n| self.flag(n) == Some(true))
            .collect();
        if on.is_empty() {
            return f.write_str("defaults");
        }
        for (i, n) in on.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{n}=yes")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_table() {
        let cases: &[(&str, &str, Result<(), ()>)] = &[
            ("skip_size_check", "yes", Ok(())),
            ("pop3_migration_skip_size_check", "no", Ok(())),
            ("all_mailboxes", "true", Ok(())),
            ("skip_uidl_check", "yes", Err(())),
            // Any spelling is kept: what it means depends on the version.
            ("ignore_extra_uidls", "maybe", Ok(())),
            ("mailbox", "POP3-MIGRATION-NS/INBOX", Ok(())),
        ];
        for (name, value, want) in cases {
            let mut s = Settings::default();
            assert_eq!(s.set(name, value).map_err(|_| ()), *want, "{name}={value}");
        }
    }

    #[test]
    fn display_and_pairs() {
        let mut s = Settings::enabled();
        assert_eq!(s.to_string(), "defaults");
        s.set("pop3_migration_skip_size_check", "yes").unwrap();
        s.set("ignore_extra_uidls", "on").unwrap();
        assert_eq!(s.to_string(), "ignore_extra_uidls=yes skip_size_check=yes");
        s.spellings.clear();
        assert_eq!(
            s.dovecot_pairs(),
            vec![
                (
                    "pop3_migration_mailbox".into(),
                    "POP3-MIGRATION-NS/INBOX".into()
                ),
                ("pop3_migration_ignore_extra_uidls".into(), "yes".into()),
                ("pop3_migration_skip_size_check".into(), "yes".into()),
            ]
        );
    }

    /// The measured table of `docs/dovecot-versions.md`: per spelling, 2.3's reading
    /// and 2.4's (None: exit 89).
    #[test]
    fn booleans_per_version() {
        use DovecotVersion::{V2_3, V2_4};
        let table: &[(&str, bool, Option<bool>)] = &[
            ("yes", true, Some(true)),
            ("YES", true, Some(true)),
            ("y", true, Some(true)),
            ("1", true, Some(true)),
            ("no", false, Some(false)),
            ("No", false, Some(false)),
            ("n", false, None),
            ("0", false, None),
            ("false", false, None),
            ("true", true, None),
            ("on", true, None),
            ("off", true, None),
            ("", true, None),
            ("\"\"", true, None),
            ("\"yes\"", true, Some(true)),
            ("\"off\"", true, None),
            ("2", true, None),
            ("x", true, None),
        ];
        for &(spelling, v23, v24) in table {
            let mut s = Settings::enabled();
            s.set("skip_size_check", spelling).unwrap();
            assert_eq!(
                s.for_version(V2_3).unwrap().skip_size_check,
                v23,
                "{spelling}"
            );
            assert_eq!(s.skip_size_check, v23, "{spelling}");
            match (s.for_version(V2_4), v24) {
                (Ok(got), Some(want)) => assert_eq!(got.skip_size_check, want, "{spelling}"),
                (Err(e), None) => assert!(e.to_string().contains("Invalid boolean value")),
                (got, want) => panic!("{spelling}: {got:?}, want {want:?}"),
            }
        }
        let mut s = Settings::enabled();
        s.set("skip_size_check", "off").unwrap();
        let loud = s.misreadings(V2_3);
        assert!(loud[0].contains("reads `off` as YES"), "{loud:?}");
        assert!(s.misreadings(V2_4)[0].contains("exit 89"));
        s.set("skip_size_check", "no").unwrap();
        assert!(s.misreadings(V2_3).is_empty());
        assert!(s.misreadings(V2_4).is_empty());
        s.set("skip_size_check", "0").unwrap();
        assert!(s.misreadings(V2_3).is_empty());
        assert_eq!(s.misreadings(V2_4).len(), 1);
    }
}
