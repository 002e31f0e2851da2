//! The audit's recommendation as advice an admin can act on: the settings to change under
//! Dovecot's full names, a configuration block ready to paste in the target Dovecot
//! version's syntax, and the reason in words.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::matcher::audit::{Recommendation, Trial};
use crate::matcher::settings::PREFIX;

use crate::domain::DovecotVersion;

/// The recommendation of a report (`audit.recommendation`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Advice {
    /// The settings to change, full name (`pop3_migration_skip_size_check`) → `yes`/`no`;
    /// empty when nothing should change or nothing helps.
    pub settings: BTreeMap<String, String>,
    /// `settings` as a block ready to paste into the configuration (empty with no
    /// settings).
    pub config: String,
    /// Why, in words.
    pub reason: String,
}

impl fmt::Display for Advice {
    /// The reason: what a one-line message (verify's error) says.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Writes `settings` (full names → values) as Dovecot `version` reads them: 2.3 in a
/// `plugin { }` block, 2.4 as top-level settings (a `plugin { }` block is fatal there). Empty settings
/// give an empty string; otherwise the block ends with a newline.
pub fn config_block(settings: &BTreeMap<String, String>, version: DovecotVersion) -> String {
    if settings.is_empty() {
        return String::new();
    }
    let lines = |indent: &str| {
        settings
            .iter()
            .map(|(k, v)| format!("{indent}{k} = {v}\n"))
            .collect::<String>()
    };
    match version {
        DovecotVersion::V2_3 => format!("plugin {{\n{}}}\n", lines("  ")),
        DovecotVersion::V2_4 => lines(""),
    }
}

/// The advice for a recommendation, its block in `version`'s syntax.
pub fn advice(r: &Recommendation, version: DovecotVersion) -> Advice {
    let settings: BTreeMap<String, String> = match r {
        Recommendation::Change(t) | Recommendation::Impossible { best: Some(t) } => t
            .changes
            .iter()
            .map(|(n, v)| (format!("{PREFIX}{n}"), yes_no(*v).to_string()))
            .collect(),
        Recommendation::KeepSettings
        | Recommendation::Impossible { best: None }
        | Recommendation::Undecided => BTreeMap::new(),
    };
    Advice {
        config: config_block(&settings, version),
        settings,
        reason: reason(r),
    }
}

fn yes_no(v: bool) -> &'static str {
    if v { "yes" } else { "no" }
}

/// The recommendation in words.
pub fn reason(r: &Recommendation) -> String {
    let changes = |t: &Trial| {
        t.changes
            .iter()
            .map(|(n, v)| format!("{PREFIX}{n}={}", yes_no(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match r {
        Recommendation::KeepSettings => "keep these settings: every UIDL is carried right".into(),
        Recommendation::Change(t) => format!("set {}: every UIDL is then carried right", changes(t)),
        Recommendation::Impossible { best: Some(t) } if t.changes.is_empty() => format!(
            "no combination of the plugin's settings does better than these ({} wrong, {} lost, {} order-lost, {} not migrated, exit {}): the cause lies outside the plugin's settings",
            t.counts.wrong, t.counts.lost, t.counts.order_lost, t.counts.not_migrated, t.exit_code
        ),
        Recommendation::Impossible { best: Some(t) } => format!(
            "no combination of the plugin's settings carries every UIDL right; the best, {}, still gives {} wrong, {} lost, {} order-lost, {} not migrated (exit {})",
            changes(t),
            t.counts.wrong,
            t.counts.lost,
            t.counts.order_lost,
            t.counts.not_migrated,
            t.exit_code
        ),
        Recommendation::Impossible { best: None } => {
            "no combination of the plugin's settings carries every UIDL right".into()
        }
        Recommendation::Undecided => {
            "undecided: some messages cannot be told apart by content (duplicates or unreadable headers)"
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> BTreeMap<String, String> {
        [
            ("pop3_migration_skip_size_check", "yes"),
            ("pop3_migration_ignore_extra_uidls", "yes"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn blocks_per_version() {
        assert_eq!(
            config_block(&two(), DovecotVersion::V2_3),
            "plugin {\n  pop3_migration_ignore_extra_uidls = yes\n  pop3_migration_skip_size_check = yes\n}\n"
        );
        assert_eq!(
            config_block(&two(), DovecotVersion::V2_4),
            "pop3_migration_ignore_extra_uidls = yes\npop3_migration_skip_size_check = yes\n"
        );
        assert_eq!(config_block(&BTreeMap::new(), DovecotVersion::V2_3), "");
    }

    #[test]
    fn keep_settings_has_nothing_to_paste() {
        let a = advice(&Recommendation::KeepSettings, DovecotVersion::V2_3);
        assert!(a.settings.is_empty() && a.config.is_empty());
        assert_eq!(a.to_string(), a.reason);
    }
}
