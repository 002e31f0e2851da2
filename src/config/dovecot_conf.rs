//! A Dovecot configuration as `verify --dovecot-conf` reads it, in 2.3's syntax or
//! 2.4's, written by hand or printed by `doveconf -n -P`: the imapc and pop3c servers,
//! users and passwords, `imapc_features`, `mail_prefetch_count` and the plugin's
//! settings as the admin spelled them. It says which syntax it found, follows `!include`/`!include_try` (relative to
//! the including file, bounded depth, never outside the first file's folder), and knows
//! what each version refuses (a `plugin { }` block in 2.4, 2.3's feature names in 2.4,
//! 2.4's settings in 2.3), so that `verify` can predict the refusal instead of reading.
//!
//! 2.4 syntax (`docs/dovecot-versions.md`): `dovecot_config_version` first,
//! `pop3_migration_*` at top level or in `protocol doveadm { }`, `mail_plugins { }`,
//! and in `doveconf -n` output `imapc { host = … }` / `pop3c { … }` blocks with the
//! prefix dropped. Variables: 2.3 expands `%u`, `%n`, `%d` and `%{user}`; 2.4.1 only
//! `%{user}` (and `%{user | username}`, `%{user | domain}`), sending `%u` literally.

use std::path::{Path, PathBuf};

use crate::domain::{Destination, DovecotVersion, Imapc};
use crate::matcher::settings::{ConfigError, PREFIX, Settings};
use crate::secret::Secret;
use crate::tls::Security;

/// Why a configuration could not be read: the file itself (its kind kept, for the exit
/// code), or file:line and what is wrong there. A line that may hold a password is named
/// by its key only, never echoed.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("{0}")]
    Input(#[source] crate::input::InputError),
    #[error("{0}")]
    Text(String),
}

type Result<T, E = ConfError> = std::result::Result<T, E>;

/// A [`ConfError`] from a format string.
macro_rules! conf_err {
    ($($t:tt)*) => {
        ConfError::Text(format!($($t)*))
    };
}

/// Where a service is, as far as the configuration says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub security: Option<Security>,
}

/// How deep `!include`s may nest.
const MAX_DEPTH: usize = 8;
/// The most a configuration file may hold.
/// What `doveconf -n` prints in place of a secret without `-P`.
const HIDDEN: &str = "# hidden, use -P to show it";
/// 2.4.1's imapc feature names (`imapc-settings.c`; compared ignoring case there).
const FEATURES_2_4: [&str; 19] = [
    "no-fetch-size",
    "guid-forced",
    "no-fetch-headers",
    "gmail-migration",
    "no-search",
    "zimbra-workarounds",
    "no-examine",
    "proxyauth",
    "fetch-msn-workarounds",
    "fetch-fix-broken-mails",
    "no-modseq",
    "no-delay-login",
    "no-fetch-bodystructure",
    "send-id",
    "fetch-empty-is-expunged",
    "no-msn-updates",
    "no-acl",
    "no-metadata",
    "no-qresync",
];

/// What a Dovecot configuration says.
#[derive(Debug, Default)]
pub struct DovecotConf {
    /// `pop3_migration_*` settings: (file:line, name, value as written).
    pub plugin: Vec<(String, String, String)>,
    pub imap: Target,
    pub pop3: Target,
    /// `imapc_user` / `pop3c_user` as written, variables unexpanded.
    pub imap_user: Option<String>,
    pub pop3_user: Option<String>,
    pub imap_password: Option<Secret>,
    pub pop3_password: Option<Secret>,
    /// `imapc_features` as written.
    pub features: Option<String>,
    /// `mail_prefetch_count`, where set (top level, or in `protocol doveadm { }`).
    pub prefetch: Option<u32>,
    /// The syntax found, and the line that shows it.
    pub syntax: Option<(DovecotVersion, String)>,
    /// Where a `plugin { }` block opens (2.4 refuses it).
    plugin_block: Option<String>,
    /// Where a 2.4-only setting is (2.3 refuses it).
    only_2_4: Option<(String, String)>,
    /// Where a password reads `# hidden, use -P to show it`.
    pub hidden: Option<String>,
    /// From the top-level `mail_location` (2.3) or `mail_driver` (2.4).
    pub destination: Option<Destination>,
}

impl DovecotConf {
    fn saw(&mut self, version: DovecotVersion, at: &str, why: &str) {
        if self.syntax.is_none() {
            self.syntax = Some((version, format!("{why} at {at}")));
        }
    }

    /// What `version` refuses in this configuration, first found first.
    pub fn refusal(&self, version: DovecotVersion) -> Option<ConfigError> {
        match version {
            DovecotVersion::V2_3 => {
                self.only_2_4
                    .as_ref()
                    .map(|(at, name)| ConfigError::UnknownSetting {
                        at: at.clone(),
                        name: name.clone(),
                    })
            }
            DovecotVersion::V2_4 => {
                if let Some(at) = &self.plugin_block {
                    return Some(ConfigError::UnknownSection {
                        at: at.clone(),
                        section: "plugin".into(),
                    });
                }
                if let Some(e) = self
                    .features
                    .as_deref()
                    .and_then(|f| unknown_feature(version, f))
                {
                    return Some(e);
                }
                match &self.imap_user {
                    Some(u) if has_old_variable(u) => {
                        Some(ConfigError::LiteralVariable { value: u.clone() })
                    }
                    _ => None,
                }
            }
        }
    }

    /// What `imapc_features` and `mail_prefetch_count` say under `version`, when the
    /// configuration sets either (unset ones are the version's defaults: no feature
    /// named, prefetch 0).
    pub fn imapc(&self, version: DovecotVersion) -> Option<Imapc> {
        if self.features.is_none() && self.prefetch.is_none() {
            return None;
        }
        Some(Imapc::from_settings(
            version,
            self.features.as_deref(),
            self.prefetch.unwrap_or(0),
        ))
    }

    /// The plugin settings, as spelled, on top of the plugin's defaults.
    pub fn settings(&self) -> Result<Settings> {
        let mut settings = Settings::enabled();
        for (at, key, value) in &self.plugin {
            settings
                .set(key, value)
                .map_err(|e| conf_err!("{at}: {e}"))?;
        }
        Ok(settings)
    }
}

/// The names in an `imapc_features` value (a boolean list: spaces or commas).
fn feature_names(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|n| !n.is_empty())
}

/// The first name in an `imapc_features` value that `version` does not know: 2.4
/// stops when the user is initialised (exit 75, nothing read; measured with 2.3's
/// `rfc822.size fetch-headers`). 2.3 is not modelled as refusing any.
pub fn unknown_feature(version: DovecotVersion, features: &str) -> Option<ConfigError> {
    if version != DovecotVersion::V2_4 {
        return None;
    }
    feature_names(features)
        .find(|n| {
            !n.to_ascii_lowercase().starts_with("throttle:")
                && !FEATURES_2_4.iter().any(|k| k.eq_ignore_ascii_case(n))
        })
        .map(|feature| ConfigError::UnknownFeature {
            feature: feature.to_string(),
        })
}

/// A `mail_prefetch_count` value: a count, as Dovecot's unsigned setting reads it.
fn prefetch_value(value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("mail_prefetch_count: expected a number, got {value:?}"))
}

/// Whether a value holds one of 2.3's one-letter variables (`%u`, `%n`, `%d`, …).
fn has_old_variable(value: &str) -> bool {
    let b = value.as_bytes();
    (0..b.len().saturating_sub(1)).any(|i| b[i] == b'%' && b[i + 1] != b'{' && b[i + 1] != b'%')
}

/// `template` with the login user's variables expanded as `version` expands them.
/// `None` when a variable stays that the version does not expand.
pub fn expand(template: &str, user: &str, version: DovecotVersion) -> Option<String> {
    let (name, domain) = user.split_once('@').unwrap_or((user, ""));
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (value, used) = if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}')?;
            let var: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
            let v = match var.as_str() {
                "user" => user,
                "user|username" | "username" => name,
                "user|domain" | "domain" => domain,
                _ => return None,
            };
            (v, end + 2)
        } else {
            let v = match (version, after.chars().next()?) {
                (_, '%') => "%",
                (DovecotVersion::V2_3, 'u') => user,
                (DovecotVersion::V2_3, 'n') => name,
                (DovecotVersion::V2_3, 'd') => domain,
                _ => return None,
            };
            (v, 1)
        };
        out.push_str(value);
        rest = &after[used..];
    }
    out.push_str(rest);
    Some(out)
}

/// Unquotes a value: `"a b"` → `a b` (with `\"` and `\\`); otherwise as written,
/// without a trailing comment.
fn conf_value(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == HIDDEN {
        return Ok(raw.to_string());
    }
    if let Some(q) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.chars();
        loop {
            match chars.next() {
                None => return Err("unterminated quoted value".into()),
                Some('\\') => match chars.next() {
                    Some(c) => out.push(c),
                    None => return Err("unterminated quoted value".into()),
                },
                Some('"') => break,
                Some(c) => out.push(c),
            }
        }
        let after = chars.as_str().trim();
        if !after.is_empty() && !after.starts_with('#') {
            return Err(format!("unexpected {after:?} after the quoted value"));
        }
        Ok(out)
    } else {
        let v = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(i) => &raw[..i],
            None => raw,
        };
        Ok(v.trim().to_string())
    }
}

/// Reads a configuration file and what it includes.
pub fn read_dovecot_conf(path: &Path) -> Result<DovecotConf> {
    let text = read_bounded(path)?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = root
        .canonicalize()
        .map_err(|e| conf_err!("resolving {}: {e}", root.display()))?;
    let mut p = Parser {
        conf: DovecotConf::default(),
        blocks: Vec::new(),
        root: Some(root),
        doveadm_prefetch: false,
    };
    p.file(path, &text, 0)?;
    if let Some((open, _)) = p.blocks.last() {
        return Err(conf_err!(
            "{}: the `{open} {{` block is never closed",
            path.display()
        ));
    }
    Ok(p.conf)
}

/// Parses text as if read from `path` (includes resolved next to it, under the
/// current folder).
#[cfg(test)]
pub fn parse_dovecot_conf(path: &Path, text: &str) -> Result<DovecotConf> {
    let here = std::env::current_dir().map_err(|e| conf_err!("the current folder: {e}"))?;
    parse_with(path, text, Some(here))
}

/// Parses a configuration's text alone, touching no file: an `!include` is an error.
/// What the fuzz harness drives.
pub fn parse_text(name: &str, text: &str) -> Result<DovecotConf> {
    parse_with(Path::new(name), text, None)
}

fn parse_with(path: &Path, text: &str, root: Option<PathBuf>) -> Result<DovecotConf> {
    let mut p = Parser {
        conf: DovecotConf::default(),
        blocks: Vec::new(),
        root,
        doveadm_prefetch: false,
    };
    p.file(path, text, 0)?;
    if let Some((open, _)) = p.blocks.last() {
        return Err(conf_err!(
            "{}: the `{open} {{` block is never closed",
            path.display()
        ));
    }
    Ok(p.conf)
}

fn read_bounded(path: &Path) -> Result<String> {
    crate::input::read_text(path, crate::input::CONFIG).map_err(ConfError::Input)
}

/// The key of a line that may hold a secret (any key with `pass` in it, such as
/// `imapc_password`), shortened to its leading name characters.
fn secret_key(line: &str) -> Option<String> {
    if !line.to_ascii_lowercase().contains("pass") {
        return None;
    }
    let key: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    Some(if key.is_empty() {
        "password".to_string()
    } else {
        key
    })
}

struct Parser {
    conf: DovecotConf,
    /// Open blocks: (name, argument).
    blocks: Vec<(String, String)>,
    /// Includes must stay under this folder; `None`: no include is followed.
    root: Option<PathBuf>,
    /// `mail_prefetch_count` was set in `protocol doveadm { }`.
    doveadm_prefetch: bool,
}

impl Parser {
    fn file(&mut self, path: &Path, text: &str, depth: usize) -> Result<()> {
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let at = format!("{}:{n}", path.display());
            let t = line.trim();
            // A line that may hold a password is never echoed: only its key is named.
            let err = |n: usize, msg: String| match secret_key(t) {
                Some(key) => conf_err!(
                    "{}:{n}: malformed `{key}` line (its value is not shown)",
                    path.display()
                ),
                None => conf_err!("{}:{n}: {msg}", path.display()),
            };
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if t == "}" {
                if self.blocks.pop().is_none() {
                    return Err(err(n, "'}' without an open block".into()));
                }
                continue;
            }
            if let Some(inc) = t.strip_prefix('!') {
                self.include(path, inc, depth)
                    .map_err(|e| err(n, format!("{e:#}")))?;
                continue;
            }
            if let Some(head) = t.strip_suffix('{') {
                let mut words = head.split_whitespace();
                let name = words.next().unwrap_or("");
                if name.is_empty() || head.contains('=') {
                    return Err(err(n, format!("bad block start {t:?}")));
                }
                let arg = words.collect::<Vec<_>>().join(" ");
                match (name, self.blocks.is_empty()) {
                    ("plugin", _) => {
                        self.conf.plugin_block.get_or_insert(at.clone());
                        self.conf
                            .saw(DovecotVersion::V2_3, &at, "a `plugin { }` block");
                    }
                    ("mail_plugins" | "imapc" | "pop3c", true) => {
                        self.conf.only_2_4.get_or_insert((at.clone(), name.into()));
                        self.conf.saw(
                            DovecotVersion::V2_4,
                            &at,
                            &format!("a `{name} {{ }}` block"),
                        );
                    }
                    _ => {}
                }
                self.blocks.push((name.to_string(), arg));
                continue;
            }
            let Some((key, raw)) = t.split_once('=') else {
                return Err(err(
                    n,
                    format!("expected `key = value` or a block, got {t:?}"),
                ));
            };
            let value = conf_value(raw).map_err(|m| err(n, m))?;
            self.setting(&at, key.trim(), value)
                .map_err(|m| err(n, m))?;
        }
        Ok(())
    }

    /// `!include FILE` / `!include_try FILE` (FILE may end in a `*` pattern).
    fn include(&mut self, from: &Path, line: &str, depth: usize) -> Result<()> {
        let (kind, target) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| conf_err!("`!{line}`: expected `!include FILE`"))?;
        let optional = match kind {
            "include" => false,
            "include_try" => true,
            _ => return Err(conf_err!("unknown directive `!{kind}`")),
        };
        let Some(root) = self.root.clone() else {
            return Err(conf_err!("`!{kind}` is not followed here"));
        };
        if depth >= MAX_DEPTH {
            return Err(conf_err!("includes nest deeper than {MAX_DEPTH}"));
        }
        let target = conf_value(target).map_err(ConfError::Text)?;
        let base = from.parent().unwrap_or(Path::new("."));
        let full = if Path::new(&target).is_absolute() {
            PathBuf::from(&target)
        } else {
            base.join(&target)
        };
        for path in expand_glob(&full)? {
            let canon = match path.canonicalize() {
                Ok(c) => c,
                Err(_) if optional => continue,
                Err(e) => return Err(conf_err!("{}: {e}", path.display())),
            };
            if !canon.starts_with(&root) {
                return Err(conf_err!(
                    "{} is outside {}: uidlmap reads only the configuration's own folder",
                    path.display(),
                    root.display()
                ));
            }
            let text = read_bounded(&canon)?;
            self.file(&path, &text, depth + 1)?;
        }
        Ok(())
    }

    fn setting(&mut self, at: &str, key: &str, value: String) -> Result<(), String> {
        let top = self.blocks.is_empty();
        let block = self.blocks.last().map(|(n, a)| (n.as_str(), a.as_str()));
        if key == "dovecot_config_version" || key == "dovecot_storage_version" {
            self.conf.only_2_4.get_or_insert((at.into(), key.into()));
            self.conf.saw(DovecotVersion::V2_4, at, &format!("`{key}`"));
            return Ok(());
        }
        // The destination's storage; `imapc:` (the source, in some recipes) and the
        // formats uidlmap does not model leave the default.
        if top && (key == "mail_location" || key == "mail_driver") {
            if let Some(d) = Destination::from_mail_location(&value) {
                self.conf.destination = Some(d);
            }
            return Ok(());
        }
        if key == "mail_prefetch_count" {
            // doveadm's own value wins over the top level, wherever either is written.
            let n = prefetch_value(&value)?;
            if block == Some(("protocol", "doveadm")) {
                self.doveadm_prefetch = true;
                self.conf.prefetch = Some(n);
            } else if top && !self.doveadm_prefetch {
                self.conf.prefetch = Some(n);
            }
            return Ok(());
        }
        if key.starts_with(PREFIX) {
            match block {
                Some(("plugin", _)) => {}
                None | Some(("protocol", "doveadm")) => {
                    self.conf.only_2_4.get_or_insert((at.into(), key.into()));
                    self.conf.saw(
                        DovecotVersion::V2_4,
                        at,
                        "a `pop3_migration_*` setting outside `plugin { }`",
                    );
                }
                Some(_) => return Ok(()),
            }
            Settings::enabled()
                .set(key, &value)
                .map_err(|e| e.to_string())?;
            self.conf.plugin.push((at.into(), key.into(), value));
            return Ok(());
        }
        if value.contains("%{") {
            self.conf.saw(DovecotVersion::V2_4, at, "a `%{…}` variable");
        }
        // 2.4's `doveconf -n` groups imapc_* and pop3c_* into blocks, prefix dropped.
        let (service, field) = match (block, key.split_once('_')) {
            (Some(("imapc", "")), _) => ("imapc", key),
            (Some(("pop3c", "")), _) => ("pop3c", key),
            (None, Some((s @ ("imapc" | "pop3c"), f))) => (s, f),
            _ if top && key == "mail_location" => {
                self.conf.saw(DovecotVersion::V2_3, at, "`mail_location`");
                return Ok(());
            }
            _ => return Ok(()),
        };
        let (target, password, user) = if service == "imapc" {
            let c = &mut self.conf;
            (&mut c.imap, &mut c.imap_password, &mut c.imap_user)
        } else {
            let c = &mut self.conf;
            (&mut c.pop3, &mut c.pop3_password, &mut c.pop3_user)
        };
        match field {
            "host" if !value.contains('%') => target.host = Some(value),
            "port" => {
                target.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or_else(|| format!("{key}: bad port {value:?}"))?,
                )
            }
            "user" => *user = Some(value),
            "password" if value == HIDDEN => {
                self.conf.hidden.get_or_insert(at.into());
            }
            "password" if !value.contains('%') => *password = Some(Secret::new(value)),
            "ssl" => {
                target.security = Some(match value.to_ascii_lowercase().as_str() {
                    "no" | "" => Security::Plain,
                    "imaps" | "pop3s" | "yes" => Security::Implicit,
                    "starttls" => Security::StartTls,
                    _ => {
                        return Err(format!(
                            "{key}: expected imaps, pop3s, starttls or no, got {value:?}"
                        ));
                    }
                })
            }
            "features" if service == "imapc" => self.conf.features = Some(value),
            _ => {}
        }
        Ok(())
    }
}

/// A path whose file name may hold `*`: the matching files, sorted; else the path.
fn expand_glob(path: &Path) -> Result<Vec<PathBuf>> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains('*') {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let (pre, post) = name.split_once('*').unwrap_or((name, ""));
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten().take(10_000) {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post) {
            out.push(dir.join(n.as_ref()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
