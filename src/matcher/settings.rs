//! The plugin's settings, under Dovecot's own names (prefix `pop3_migration_` dropped).

use std::fmt;

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
    #[error("setting '{name}' takes yes or no, not '{value}'")]
    NotBoolean { name: String, value: String },
}

/// Parses a boolean as Dovecot's settings parser does (`yes`/`no`), also taking
/// `true`/`false`, `1`/`0` and `on`/`off`, which YAML and shell users write.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "on" => Some(true),
        "no" | "n" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
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
        let slot = self
            .flag_mut(short)
            .ok_or_else(|| SettingError::UnknownName(name.to_string()))?;
        *slot = parse_bool(value).ok_or_else(|| SettingError::NotBoolean {
            name: name.to_string(),
            value: value.to_string(),
        })?;
        Ok(())
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
            ("ignore_extra_uidls", "maybe", Err(())),
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
}
