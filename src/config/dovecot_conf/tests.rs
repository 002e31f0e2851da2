//! `--dovecot-conf` in both syntaxes, as written and as `doveconf -n -P` prints it.

use super::*;
use crate::domain::Sizing;

#[test]
fn dovecot_conf_2_3() {
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
    assert_eq!(c.imap_user.as_deref(), Some("%u"));
    assert_eq!(c.imap.security, Some(Security::Implicit));
    assert_eq!(c.pop3.host.as_deref(), Some("192.0.2.8"));
    assert_eq!(c.pop3.security, Some(Security::StartTls));
    assert_eq!(c.syntax.as_ref().map(|s| s.0), Some(DovecotVersion::V2_3));
    assert_eq!(
        c.imapc(DovecotVersion::V2_3).map(|i| i.sizing),
        Some(Sizing::Rfc822Size)
    );
    // No mail_prefetch_count: Dovecot's 0, one UID a command.
    assert_eq!(c.prefetch, None);
    assert_eq!(c.refusal(DovecotVersion::V2_3), None);
    // The same file given to 2.4: the plugin block is fatal first (exit 89).
    let e = c.refusal(DovecotVersion::V2_4).unwrap();
    assert_eq!(e.exit(), 89, "{e}");
    assert!(e.to_string().contains("Unknown section name: plugin"));
    assert_eq!(
        c.plugin,
        vec![
            (
                "d.conf:16".into(),
                "pop3_migration_mailbox".into(),
                "POP3-MIGRATION-NS/INBOX".into()
            ),
            (
                "d.conf:17".into(),
                "pop3_migration_skip_size_check".into(),
                "yes".into()
            ),
        ]
    );
    for (bad, want) in [
        ("plugin {\n", "never closed"),
        ("}\n", "c:1:"),
        ("a = \"x\n", "c:1: unterminated"),
        ("imapc_ssl = tls\n", "c:1: imapc_ssl"),
        ("!include missing.conf\n", "c:1:"),
        ("!frobnicate x\n", "c:1: unknown directive"),
        ("plugin {\n pop3_migration_nonsense = yes\n}\n", "c:2:"),
    ] {
        let e = parse_dovecot_conf(Path::new("c"), bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "no error".into());
        assert!(e.contains(want), "{bad:?}: {e}");
    }
}

/// 2.4.1's `doveconf -n -P` of a migration configuration (docs/dovecot-versions.md).
const DOVECONF_2_4: &str = "\
# 2.4.1-4 (7d8c0e5759): /tmp/i13x/show.conf
dovecot_config_version = 2.4.1
base_dir =
dovecot_storage_version = 2.4.1
mail_driver = maildir
mail_home = /tmp/i13x/home
mail_path = ~/Maildir
mail_plugins {
  pop3_migration = yes
}
mail_prefetch_count = 20
pop3_migration_all_mailboxes = NO
pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX
pop3_migration_skip_size_check = y
imapc {
  cmd_timeout = 10s
  features = no-fetch-size
  host = 127.0.0.1
  password = secret
  port = 33535
  user = %{user}
}
pop3c {
  host = 127.0.0.2
  password = # hidden, use -P to show it
  port = 110
  user = %{user | username}
}
namespace pop3c {
  mail_driver = pop3c
  mail_path =
  hidden = yes
  inbox = no
  list = no
  prefix = POP3-MIGRATION-NS/
  separator = /
}
protocol doveadm {
  pop3_migration_ignore_extra_uidls = yes
}
";

#[test]
fn dovecot_conf_2_4_as_doveconf_prints_it() {
    let c = parse_dovecot_conf(Path::new("n.conf"), DOVECONF_2_4).unwrap();
    let (v, why) = c.syntax.clone().unwrap();
    assert_eq!(v, DovecotVersion::V2_4);
    assert_eq!(why, "`dovecot_config_version` at n.conf:2");
    assert_eq!(c.imap.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.imap.port, Some(33535));
    assert_eq!(c.pop3.host.as_deref(), Some("127.0.0.2"));
    assert_eq!(c.hidden.as_deref(), Some("n.conf:25"));
    // `mail_prefetch_count = 20` with `no-fetch-size`: the bare sizing, 21 UIDs a command.
    assert_eq!(
        c.imapc(DovecotVersion::V2_4),
        Some(Imapc {
            sizing: Sizing::Download,
            prefetch: 20
        })
    );
    assert_eq!(c.refusal(DovecotVersion::V2_4), None);
    let e = c.refusal(DovecotVersion::V2_3).unwrap();
    assert!(e.to_string().contains("dovecot_config_version"), "{e}");
    let s = c.settings().unwrap();
    assert_eq!(
        s.spellings.get("all_mailboxes").map(String::as_str),
        Some("NO")
    );
    let s24 = s.for_version(DovecotVersion::V2_4).unwrap();
    assert!(s24.skip_size_check && s24.ignore_extra_uidls && !s24.all_mailboxes);
    let user = c.imap_user.as_deref().unwrap();
    assert_eq!(
        expand(user, "ann@example.org", DovecotVersion::V2_4).as_deref(),
        Some("ann@example.org")
    );
    let user = c.pop3_user.as_deref().unwrap();
    assert_eq!(
        expand(user, "ann@example.org", DovecotVersion::V2_4).as_deref(),
        Some("ann")
    );
}

#[test]
fn what_2_4_refuses() {
    let base = "dovecot_config_version = 2.4.1\n";
    for (extra, exit, want) in [
        (
            "imapc_features = rfc822.size fetch-headers\n",
            75,
            "Unknown feature: rfc822.size",
        ),
        ("imapc_features = fetch-headers\n", 75, "fetch-headers"),
        ("imapc_user = %u\n", 77, "sends it literally"),
    ] {
        let c = parse_dovecot_conf(Path::new("r"), &format!("{base}{extra}")).unwrap();
        let e = c.refusal(DovecotVersion::V2_4).expect(extra);
        assert_eq!(e.exit(), exit, "{extra}");
        assert!(e.to_string().contains(want), "{e}");
    }
    let ok = parse_dovecot_conf(
        Path::new("r"),
        &format!("{base}imapc_features = No-Fetch-Size throttle:50:1000:3000\n"),
    )
    .unwrap();
    assert_eq!(ok.refusal(DovecotVersion::V2_4), None);
    assert_eq!(ok.imapc(DovecotVersion::V2_4), Some(Imapc::BARE));
}

#[test]
fn variables_per_version() {
    use DovecotVersion::{V2_3, V2_4};
    let u = "ann@example.org";
    assert_eq!(expand("%u", u, V2_3).as_deref(), Some(u));
    assert_eq!(
        expand("%n+x@%d", u, V2_3).as_deref(),
        Some("ann+x@example.org")
    );
    assert_eq!(expand("%{user}", u, V2_3).as_deref(), Some(u));
    assert_eq!(expand("%u", u, V2_4), None);
    assert_eq!(
        expand("%{user|domain}", u, V2_4).as_deref(),
        Some("example.org")
    );
    assert_eq!(expand("100%%", u, V2_4).as_deref(), Some("100%"));
}

#[test]
fn includes_relative_bounded_and_confined() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(
        d.join("dovecot.conf"),
        "dovecot_config_version = 2.4.1\n!include conf.d/*.conf\n!include_try nothing.conf\n",
    )
    .unwrap();
    std::fs::write(d.join("conf.d/10-imapc.conf"), "imapc_host = 192.0.2.9\n").unwrap();
    std::fs::write(
        d.join("conf.d/90-plugin.conf"),
        "pop3_migration_skip_size_check = off\n",
    )
    .unwrap();
    let c = read_dovecot_conf(&d.join("dovecot.conf")).unwrap();
    assert_eq!(c.imap.host.as_deref(), Some("192.0.2.9"));
    assert_eq!(c.plugin.len(), 1);
    assert!(
        c.plugin[0].0.ends_with("90-plugin.conf:1"),
        "{:?}",
        c.plugin
    );
    // Outside the configuration's folder: refused.
    std::fs::write(d.join("conf.d/escape.conf"), "!include ../../x.conf\n").unwrap();
    let e = read_dovecot_conf(&d.join("conf.d/escape.conf")).unwrap_err();
    assert!(format!("{e:#}").contains("x.conf"), "{e:#}");
    // A loop: bounded.
    std::fs::write(d.join("loop.conf"), "!include loop.conf\n").unwrap();
    let e = read_dovecot_conf(&d.join("loop.conf")).unwrap_err();
    assert!(format!("{e:#}").contains("nest deeper"), "{e:#}");
}

#[test]
fn mail_prefetch_count_is_read() {
    let c = parse_dovecot_conf(Path::new("p"), "mail_prefetch_count = 5\n").unwrap();
    // No imapc_features: 2.3 downloads, 2.4 asks RFC822.SIZE; both 6 UIDs a command.
    assert_eq!(c.imapc(DovecotVersion::V2_3).unwrap().batch(), 6);
    assert_eq!(
        c.imapc(DovecotVersion::V2_4).unwrap().sizing,
        Sizing::Rfc822Size
    );
    let in_doveadm = "protocol doveadm {\n  mail_prefetch_count = 3\n}\n";
    let c = parse_dovecot_conf(Path::new("p"), in_doveadm).unwrap();
    assert_eq!(c.prefetch, Some(3));
    let later_top = format!("{in_doveadm}mail_prefetch_count = 9\n");
    let c = parse_dovecot_conf(Path::new("p"), &later_top).unwrap();
    assert_eq!(c.prefetch, Some(3), "doveadm's own value wins");
    let other = "protocol imap {\n  mail_prefetch_count = 3\n}\n";
    assert_eq!(
        parse_dovecot_conf(Path::new("p"), other).unwrap().prefetch,
        None
    );
    let e = parse_dovecot_conf(Path::new("p"), "mail_prefetch_count = lots\n").unwrap_err();
    assert!(format!("{e:#}").contains("mail_prefetch_count"), "{e:#}");
    assert!(
        parse_dovecot_conf(Path::new("p"), "")
            .unwrap()
            .imapc(DovecotVersion::V2_4)
            .is_none()
    );
}

#[test]
fn text_alone_follows_no_include() {
    let e = parse_text("t", "!include other.conf\n").unwrap_err();
    assert!(format!("{e:#}").contains("not followed"), "{e:#}");
}
