//! A Dovecot configuration snippet as `verify --dovecot-conf` reads it: the imapc and
//! pop3c servers, their passwords, `imapc_features` and the plugin's settings.

use std::path::Path;

use anyhow::anyhow;
use uidlmap::domain::ImapcProfile;
use uidlmap::matcher::{self, Settings};
use uidlmap::secret::Secret;
use uidlmap::tls::Security;

use super::url::Target;

/// What a Dovecot configuration snippet says.
#[derive(Debug, Default)]
pub(super) struct DovecotConf {
    /// `pop3_migration_*` plugin settings, with their lines.
    pub(super) plugin: Vec<(usize, String, String)>,
    pub(super) imap: Target,
    pub(super) pop3: Target,
    pub(super) imap_password: Option<Secret>,
    pub(super) pop3_password: Option<Secret>,
    /// From `imapc_features`: whether `rfc822.size` is in it.
    pub(super) profile: Option<ImapcProfile>,
}

/// Unquotes a value: `"a b"` → `a b` (with `\"` and `\\`); otherwise as written,
/// without a trailing comment.
fn conf_value(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
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

/// Parses the parts of a Dovecot configuration `uidlmap verify` needs: `key = value`
/// lines, `name [arg] {` … `}` blocks (settings in `plugin { }` only for the plugin),
/// `#` comments. Other settings are ignored. Errors name file:line.
pub(super) fn parse_dovecot_conf(path: &Path, text: &str) -> anyhow::Result<DovecotConf> {
    let mut conf = DovecotConf::default();
    let mut blocks: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        // A line that may hold a password is never echoed: only its key is named.
        let err = |n: usize, msg: String| match secret_key(t) {
            Some(key) => anyhow!(
                "{}:{n}: malformed `{key}` line (its value is not shown)",
                path.display()
            ),
            None => anyhow!("{}:{n}: {msg}", path.display()),
        };
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t == "}" {
            if blocks.pop().is_none() {
                return Err(err(n, "'}' without an open block".into()));
            }
            continue;
        }
        if t.starts_with('!') {
            return Err(err(
                n,
                format!("{t:?}: includes are not supported; give the settings in one file"),
            ));
        }
        if let Some(head) = t.strip_suffix('{') {
            let name = head.split_whitespace().next().unwrap_or("");
            if name.is_empty() || head.contains('=') {
                return Err(err(n, format!("bad block start {t:?}")));
            }
            blocks.push(name.to_string());
            continue;
        }
        let Some((key, raw)) = t.split_once('=') else {
            return Err(err(
                n,
                format!("expected `key = value` or a block, got {t:?}"),
            ));
        };
        let key = key.trim();
        let value = conf_value(raw).map_err(|m| err(n, m))?;
        let in_plugin = blocks.last().is_some_and(|b| b == "plugin");
        if key.starts_with(matcher::settings::PREFIX) {
            if !in_plugin {
                return Err(err(n, format!("{key} belongs in a `plugin {{ }}` block")));
            }
            let mut probe = Settings::enabled();
            probe.set(key, &value).map_err(|e| err(n, e.to_string()))?;
            conf.plugin.push((n, key.to_string(), value));
            continue;
        }
        if !blocks.is_empty() {
            continue;
        }
        let (target, password) = match key.split_once('_') {
            Some(("imapc", _)) => (&mut conf.imap, &mut conf.imap_password),
            Some(("pop3c", _)) => (&mut conf.pop3, &mut conf.pop3_password),
            _ => continue,
        };
        let field = key.split_once('_').map(|(_, f)| f).unwrap_or("");
        // `%u` and friends are per-user variables: the command line must give the value.
        let variable = value.contains('%');
        match field {
            "host" if !variable => target.host = Some(value),
            "port" => {
                target.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or_else(|| err(n, format!("{key}: bad port {value:?}")))?,
                )
            }
            "user" if !variable => target.user = Some(value),
            "password" if !variable => *password = Some(Secret::new(value)),
            "ssl" => {
                target.security = Some(match value.to_ascii_lowercase().as_str() {
                    "no" | "" => Security::Plain,
                    "imaps" | "pop3s" | "yes" => Security::Implicit,
                    "starttls" => Security::StartTls,
                    _ => {
                        return Err(err(
                            n,
                            format!("{key}: expected imaps, pop3s, starttls or no, got {value:?}"),
                        ));
                    }
                })
            }
            "features" if key == "imapc_features" => {
                let docs = value
                    .split_whitespace()
                    .any(|f| f.eq_ignore_ascii_case("rfc822.size"));
                conf.profile = Some(if docs {
                    ImapcProfile::Docs
                } else {
                    ImapcProfile::Bare
                });
            }
            _ => {}
        }
    }
    if let Some(open) = blocks.last() {
        return Err(anyhow!(
            "{}: the `{open} {{` block is never closed",
            path.display()
        ));
    }
    Ok(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_conf() {
        let text = r#"
# the migration recipe
mail_location = imapc:~/imapc
imapc_host = 192.0.2.7
imapc_port = 993
imapc_ssl = imaps
imapc_user = %u   # per user
imapc_features = rfc822.size fetch-headers
pop3c_host = "192.0.2.8"
pop3c_ssl = starttls
namespace {
  prefix = POP3-MIGRATION-NS/
  location = pop3c:
}
plugin {
  pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX
  pop3_migration_skip_size_check = yes # sizes differ
}
"#;
        let c = parse_dovecot_conf(Path::new("d.conf"), text).unwrap();
        assert_eq!(c.imap.host.as_deref(), Some("192.0.2.7"));
        assert_eq!(c.imap.port, Some(993));
        assert_eq!(c.imap.user, None);
        assert_eq!(c.imap.security, Some(Security::Implicit));
        assert_eq!(c.pop3.host.as_deref(), Some("192.0.2.8"));
        assert_eq!(c.pop3.security, Some(Security::StartTls));
        assert_eq!(c.profile, Some(ImapcProfile::Docs));
        assert_eq!(
            c.plugin,
            vec![
                (
                    16,
                    "pop3_migration_mailbox".into(),
                    "POP3-MIGRATION-NS/INBOX".into()
                ),
                (17, "pop3_migration_skip_size_check".into(), "yes".into()),
            ]
        );
        for (bad, want) in [
            (
                "plugin {\n pop3_migration_skip_size_check = maybe\n}\n",
                "c:2:",
            ),
            (
                "pop3_migration_skip_size_check = yes\n",
                "c:1: pop3_migration_skip",
            ),
            ("plugin {\n", "never closed"),
            ("}\n", "c:1:"),
            ("a = \"x\n", "c:1: unterminated"),
            ("imapc_ssl = tls\n", "c:1: imapc_ssl"),
            ("!include x.conf\n", "c:1:"),
            ("plugin {\n pop3_migration_nonsense = yes\n}\n", "c:2:"),
        ] {
            let e = parse_dovecot_conf(Path::new("c"), bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    /// Every error path of the reader, on lines that carry a password: the marker
    /// never appears in the message.
    #[test]
    fn errors_never_echo_a_password() {
        const M: &str = "MARKER-s3cr3t";
        let cases = [
            format!("imapc_password = \"{M}\n"),
            format!("imapc_password = \"{M}\" {M}\n"),
            format!("imapc_password {M}\n"),
            format!("pop3c_password = {M} {{\n"),
            format!("!include {M}_password\n"),
            format!("imapc_password = \"{M}\\\n"),
            format!("plugin {{\n pop3_migration_password = {M}\n}}\n"),
            format!("pop3_migration_pass = {M}\n"),
            format!("imapc_port = {M}password\n"),
            format!("imapc_ssl = {M}password\n"),
            format!("{M}_password = x {{\n"),
        ];
        for text in &cases {
            let e = parse_dovecot_conf(Path::new("c"), text)
                .expect_err(text)
                .to_string();
            assert!(!e.contains(M), "{text:?}: {e}");
            assert!(e.contains("not shown"), "{text:?}: {e}");
        }
        // A good password line parses, and still prints nothing.
        let c = parse_dovecot_conf(Path::new("c"), &format!("imapc_password = {M}\n")).unwrap();
        assert!(!format!("{c:?}").contains(M));
    }
}
