//! The configuration files the oracle writes, in the syntax of each Dovecot version: the
//! destination of `doveadm backup -R imapc:` (plugin, imapc, pop3c) and the plugin-free
//! one that reads the stored rows back.
//!
//! 2.3 and 2.4 take the same facts in different words (`notes/dovecot-2.4.md`): 2.4 wants
//! `dovecot_config_version` first, `mail_driver`/`mail_path` and `mail_home` instead of
//! `mail_location` and `$HOME`, `mail_plugins { pop3_migration = yes }`, a pop3c
//! namespace with `mail_driver = pop3c`, and the plugin's settings at top level (a
//! `plugin { }` block is fatal there). The imapc profiles are spelt per version too,
//! because 2.4 inverted imapc's feature defaults.

use super::oracle::{OracleOptions, POP3C_PREFIX};
use super::quote;
use crate::domain::{Destination, DovecotVersion, ImapcProfile};
use crate::matcher::settings::PREFIX;
use crate::tls::Security;

/// The version 2.4 configurations declare (the release the root holds).
pub const CONFIG_VERSION_24: &str = "2.4.1";

impl ImapcProfile {
    /// The profile's configuration lines in `version`'s words.
    ///
    /// 2.3: bare is Dovecot's defaults (no feature, no prefetch); docs is the recipe
    /// (`rfc822.size fetch-headers`, prefetch 20). 2.4 turned `fetch-size` (the old
    /// `rfc822.size`) and `fetch-headers` on by default, so its docs recipe only sets the
    /// prefetch, and bare turns the size fetch off (`no-fetch-size`) to size by download
    /// as 2.3's defaults do. `defaults` writes neither setting.
    pub fn config(self, version: DovecotVersion) -> &'static str {
        match (version, self) {
            (DovecotVersion::V2_3, ImapcProfile::Bare) => {
                "imapc_features =\nmail_prefetch_count = 0\n"
            }
            (DovecotVersion::V2_3, ImapcProfile::Docs) => {
                "imapc_features = rfc822.size fetch-headers\nmail_prefetch_count = 20\n"
            }
            (DovecotVersion::V2_4, ImapcProfile::Bare) => {
                "imapc_features = no-fetch-size\nmail_prefetch_count = 0\n"
            }
            (DovecotVersion::V2_4, ImapcProfile::Docs) => {
                "# fetch-size and fetch-headers are 2.4's defaults\nmail_prefetch_count = 20\n"
            }
            (_, ImapcProfile::Defaults) => {
                "# imapc_features and mail_prefetch_count unset: the version's defaults\n"
            }
        }
    }
}

/// The destination's directory under the home: `Maildir` (the name Dovecot's
/// documentation uses), `sdbox` or `mdbox`.
pub fn destination_dir(dest: Destination) -> &'static str {
    match dest {
        Destination::Maildir => "Maildir",
        Destination::Sdbox => "sdbox",
        Destination::Mdbox => "mdbox",
    }
}

/// The storage lines of `dest`: `mail_location` (2.3) or `mail_driver`/`mail_path` (2.4).
fn storage_lines(version: DovecotVersion, dest: Destination) -> String {
    let dir = destination_dir(dest);
    match version {
        DovecotVersion::V2_3 => format!("mail_location = {dest}:~/{dir}\n"),
        DovecotVersion::V2_4 => format!("mail_driver = {dest}\nmail_path = ~/{dir}\n"),
    }
}

/// Where the files of one run are, as doveadm sees them (inside the root for 2.4).
#[derive(Clone, Debug)]
pub struct RunPaths {
    /// The run's private directory.
    pub workdir: String,
    /// The readable copy of the CA file, if any.
    pub ca_file: Option<String>,
    /// `mail_uid` / `mail_gid` as numbers (the host's `nobody`; the 2.4 root's passwd
    /// may name them differently).
    pub mail_uid: u32,
    pub mail_gid: u32,
}

/// The plugin's settings as `(full name, value as written)`: the typed settings (quoted
/// as 2.3 always had them; unquoted booleans for 2.4), then the raw ones, each raw one
/// replacing a typed one of the same name.
pub(crate) fn plugin_lines(opts: &OracleOptions) -> Vec<(String, String)> {
    let full = |name: &str| {
        if name.starts_with(PREFIX) {
            name.to_string()
        } else {
            format!("{PREFIX}{name}")
        }
    };
    let raw: Vec<(String, String)> = opts
        .raw_settings
        .iter()
        .map(|(k, v)| (full(k.trim()), v.clone()))
        .collect();
    let mut out: Vec<(String, String)> = opts
        .settings
        .dovecot_pairs()
        .into_iter()
        .filter(|(k, _)| !raw.iter().any(|(r, _)| r == k))
        .map(|(k, v)| {
            let written = match opts.version {
                DovecotVersion::V2_4 if k != format!("{PREFIX}mailbox") => v,
                _ => quote(&v),
            };
            (k, written)
        })
        .collect();
    out.extend(raw);
    out
}

fn ssl_values(opts: &OracleOptions) -> (&'static str, &'static str) {
    let imapc = match opts.imap.security {
        Security::Plain => "no",
        Security::Implicit => "imaps",
        Security::StartTls => "starttls",
    };
    let pop3c = match opts.pop3.security {
        Security::Plain => "no",
        Security::Implicit => "pop3s",
        Security::StartTls => "starttls",
    };
    (imapc, pop3c)
}

/// The imapc profile lines, or the caller's own.
fn imapc_profile_lines(opts: &OracleOptions) -> String {
    match &opts.imapc_lines {
        None => opts.profile.config(opts.version).to_string(),
        Some(lines) => {
            let mut s = String::from("# imapc lines given by the caller\n");
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
            s
        }
    }
}

/// The destination configuration of `doveadm backup -R imapc:`.
pub fn destination(opts: &OracleOptions, paths: &RunPaths) -> String {
    match opts.version {
        DovecotVersion::V2_3 => destination_23(opts, paths),
        DovecotVersion::V2_4 => destination_24(opts, paths),
    }
}

fn destination_23(opts: &OracleOptions, paths: &RunPaths) -> String {
    let wd = &paths.workdir;
    let secs = opts.imapc_cmd_timeout.as_secs().max(1);
    let (imapc_ssl, pop3c_ssl) = ssl_values(opts);
    let mut conf = format!(
        "# Written by uidlmap's oracle: the destination of doveadm backup -R imapc:
# base_dir is empty so that pop3c does not ask the (absent) dns-client service.
base_dir =
state_dir = {wd}/state
mail_uid = nobody
mail_gid = nogroup
{storage}mail_temp_dir = {wd}/tmp
mail_debug = yes
mail_plugins = $mail_plugins pop3_migration
imapc_host = {ihost}
imapc_port = {iport}
imapc_user = {iuser}
imapc_password = {ipass}
imapc_ssl = {imapc_ssl}
imapc_ssl_verify = yes
imapc_rawlog_dir = {wd}/rawlog/imapc
imapc_cmd_timeout = {secs}s
pop3c_host = {phost}
pop3c_port = {pport}
pop3c_user = {puser}
pop3c_password = {ppass}
pop3c_ssl = {pop3c_ssl}
pop3c_ssl_verify = yes
pop3c_rawlog_dir = {wd}/rawlog/pop3c
{profile}namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
namespace pop3c {{
  prefix = {POP3C_PREFIX}
  separator = /
  location = pop3c:
  inbox = no
  list = no
  hidden = yes
}}
",
        ihost = quote(&opts.imap.host),
        iport = opts.imap.port,
        iuser = quote(&opts.imap.user),
        ipass = quote(opts.imap.password.expose()),
        phost = quote(&opts.pop3.host),
        pport = opts.pop3.port,
        puser = quote(&opts.pop3.user),
        ppass = quote(opts.pop3.password.expose()),
        profile = imapc_profile_lines(opts),
        storage = storage_lines(opts.version, opts.destination),
    );
    if let Some(ca) = &paths.ca_file {
        conf.push_str(&format!("ssl_client_ca_file = {}\n", quote(ca)));
    }
    conf.push_str("plugin {\n");
    for (k, v) in plugin_lines(opts) {
        conf.push_str(&format!("  {k} = {v}\n"));
    }
    conf.push_str("}\n");
    push_extra(&mut conf, opts);
    conf
}

fn destination_24(opts: &OracleOptions, paths: &RunPaths) -> String {
    let wd = &paths.workdir;
    let secs = opts.imapc_cmd_timeout.as_secs().max(1);
    let (imapc_ssl, pop3c_ssl) = ssl_values(opts);
    let mut conf = format!(
        "dovecot_config_version = {CONFIG_VERSION_24}
# Written by uidlmap's oracle: the destination of doveadm backup -R imapc: (2.4 syntax).
dovecot_storage_version = {CONFIG_VERSION_24}
# base_dir is empty so that pop3c does not ask the (absent) dns-client service.
base_dir =
state_dir = {wd}/state
mail_uid = {uid}
mail_gid = {gid}
# 2.4 ignores $HOME without a userdb: the home is given here.
mail_home = {wd}/home
{storage}mail_temp_dir = {wd}/tmp
mail_debug = yes
log_debug = category=storage
mail_plugins {{
  pop3_migration = yes
}}
imapc_host = {ihost}
imapc_port = {iport}
imapc_user = {iuser}
imapc_password = {ipass}
imapc_ssl = {imapc_ssl}
imapc_rawlog_dir = {wd}/rawlog/imapc
imapc_cmd_timeout = {secs}s
pop3c_host = {phost}
pop3c_port = {pport}
pop3c_user = {puser}
pop3c_password = {ppass}
pop3c_ssl = {pop3c_ssl}
pop3c_ssl_verify = yes
pop3c_rawlog_dir = {wd}/rawlog/pop3c
{profile}namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
namespace pop3c {{
  prefix = {POP3C_PREFIX}
  separator = /
  mail_driver = pop3c
  mail_path =
  inbox = no
  list = no
  hidden = yes
}}
",
        uid = paths.mail_uid,
        gid = paths.mail_gid,
        ihost = quote(&opts.imap.host),
        iport = opts.imap.port,
        iuser = quote(&opts.imap.user),
        ipass = quote(opts.imap.password.expose()),
        phost = quote(&opts.pop3.host),
        pport = opts.pop3.port,
        puser = quote(&opts.pop3.user),
        ppass = quote(opts.pop3.password.expose()),
        profile = imapc_profile_lines(opts),
        storage = storage_lines(opts.version, opts.destination),
    );
    if let Some(ca) = &paths.ca_file {
        conf.push_str(&format!("ssl_client_ca_file = {}\n", quote(ca)));
    }
    conf.push_str("# The plugin's settings are top-level settings in 2.4.\n");
    for (k, v) in plugin_lines(opts) {
        conf.push_str(&format!("{k} = {v}\n"));
    }
    push_extra(&mut conf, opts);
    conf
}

fn push_extra(conf: &mut String, opts: &OracleOptions) {
    for line in &opts.extra_config {
        conf.push_str(line);
        conf.push('\n');
    }
}

/// The configuration that reads the destination back, without the plugin.
pub fn readback(version: DovecotVersion, dest: Destination, paths: &RunPaths) -> String {
    let wd = &paths.workdir;
    let storage = storage_lines(version, dest);
    match version {
        DovecotVersion::V2_3 => format!(
            "# Written by uidlmap's oracle: reads the destination back, without the plugin.
base_dir =
state_dir = {wd}/state
mail_uid = nobody
mail_gid = nogroup
{storage}mail_temp_dir = {wd}/tmp
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
"
        ),
        DovecotVersion::V2_4 => format!(
            "dovecot_config_version = {CONFIG_VERSION_24}
# Written by uidlmap's oracle: reads the destination back, without the plugin.
dovecot_storage_version = {CONFIG_VERSION_24}
base_dir =
state_dir = {wd}/state
mail_uid = {uid}
mail_gid = {gid}
mail_home = {wd}/home
{storage}mail_temp_dir = {wd}/tmp
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
}}
",
            uid = paths.mail_uid,
            gid = paths.mail_gid,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn paths() -> RunPaths {
        RunPaths {
            workdir: "/w".into(),
            ca_file: None,
            mail_uid: 65534,
            mail_gid: 65534,
        }
    }

    fn opts(version: DovecotVersion) -> OracleOptions {
        let mut o = OracleOptions::same_account("127.0.0.1", 1, 2, "u", Secret::new("a \"b\" #c"));
        o.version = version;
        o.settings.skip_size_check = true;
        o
    }

    #[test]
    fn config_23_quotes_secrets_and_names_settings() {
        let mut o = opts(DovecotVersion::V2_3);
        o.profile = ImapcProfile::Docs;
        let conf = destination(&o, &paths());
        assert!(
            conf.contains("imapc_password = \"a \\\"b\\\" #c\"\n"),
            "{conf}"
        );
        assert!(conf.contains("  pop3_migration_mailbox = \"POP3-MIGRATION-NS/INBOX\"\n"));
        assert!(conf.contains("  pop3_migration_skip_size_check = \"yes\"\n"));
        assert!(conf.contains("imapc_features = rfc822.size fetch-headers\n"));
        assert!(conf.contains("imapc_cmd_timeout = 10s\n"));
        assert!(conf.contains("plugin {\n"));
        assert!(!format!("{o:?}").contains("#c"));
    }

    #[test]
    fn config_24_in_its_own_words() {
        let mut o = opts(DovecotVersion::V2_4);
        o.profile = ImapcProfile::Bare;
        let conf = destination(&o, &paths());
        assert!(
            conf.starts_with("dovecot_config_version = 2.4.1\n"),
            "{conf}"
        );
        for want in [
            "mail_home = /w/home\n",
            "mail_driver = maildir\n",
            "mail_plugins {\n  pop3_migration = yes\n}\n",
            "  mail_driver = pop3c\n",
            "imapc_features = no-fetch-size\n",
            "\npop3_migration_mailbox = \"POP3-MIGRATION-NS/INBOX\"\n",
            "\npop3_migration_skip_size_check = yes\n",
            "mail_uid = 65534\n",
        ] {
            assert!(conf.contains(want), "{want:?} missing in\n{conf}");
        }
        for absent in [
            "plugin {",
            "mail_location",
            "location = pop3c:",
            "imapc_ssl_verify",
        ] {
            assert!(!conf.contains(absent), "{absent:?} in\n{conf}");
        }
        o.profile = ImapcProfile::Docs;
        let conf = destination(&o, &paths());
        assert!(!conf.contains("imapc_features"), "{conf}");
        assert!(conf.contains("mail_prefetch_count = 20\n"));
    }

    #[test]
    fn raw_settings_and_imapc_lines_are_written_as_given() {
        for version in DovecotVersion::ALL {
            let mut o = opts(version);
            o.raw_settings = vec![
                ("skip_size_check".into(), "off".into()),
                ("pop3_migration_ignore_extra_uidls".into(), String::new()),
            ];
            o.imapc_lines = Some(vec!["imapc_features = rfc822.size fetch-headers".into()]);
            let conf = destination(&o, &paths());
            assert!(
                conf.contains("pop3_migration_skip_size_check = off\n"),
                "{conf}"
            );
            assert!(!conf.contains("skip_size_check = \"yes\""), "{conf}");
            assert!(!conf.contains("skip_size_check = yes"), "{conf}");
            assert!(
                conf.contains("pop3_migration_ignore_extra_uidls = \n"),
                "{conf}"
            );
            assert!(conf.contains("\nimapc_features = rfc822.size fetch-headers\n"));
            assert!(!conf.contains("mail_prefetch_count"), "{conf}");
            o.imapc_lines = Some(Vec::new());
            let conf = destination(&o, &paths());
            assert!(!conf.contains("imapc_features"), "{conf}");
        }
    }

    #[test]
    fn readback_has_no_plugin() {
        for version in DovecotVersion::ALL {
            let conf = readback(version, Destination::Maildir, &paths());
            assert!(!conf.contains("pop3"), "{conf}");
            assert!(conf.contains("state_dir = /w/state\n"));
        }
        let conf = readback(DovecotVersion::V2_4, Destination::Maildir, &paths());
        assert!(conf.contains("mail_home = /w/home\n"));
    }

    #[test]
    fn each_destination_in_both_syntaxes() {
        for dest in Destination::ALL {
            let mut o = opts(DovecotVersion::V2_3);
            o.destination = dest;
            let dir = destination_dir(dest);
            let want = format!("\nmail_location = {dest}:~/{dir}\n");
            assert!(destination(&o, &paths()).contains(&want));
            assert!(readback(o.version, dest, &paths()).contains(&want));
            o.version = DovecotVersion::V2_4;
            let want = format!("\nmail_driver = {dest}\nmail_path = ~/{dir}\n");
            assert!(destination(&o, &paths()).contains(&want));
            assert!(readback(o.version, dest, &paths()).contains(&want));
        }
    }
}
