//! The Dovecot configuration reader (`uidlmap::config::dovecot_conf`, what `verify
//! --dovecot-conf` reads) on mutated text. Seeds are real configurations in both
//! syntaxes: as an admin writes them, and as `doveconf -n -P` (and `-n`, password
//! hidden) of 2.3.19.1 and 2.4.1 printed them (`tests/fuzz/seeds/dovecot_conf/`, the OS
//! and host name lines left out). Properties: no panic, bounded time and memory, the
//! same answer twice, and a password never in an error: every seed's passwords are
//! `s3cret-MARKER`, and where each line holding the marker is a password line (its key
//! says `pass`), no error may show it. The text is parsed alone (`parse_text`): an
//! `!include` is an error, so no file is read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use uidlmap::config::dovecot_conf::parse_text;
use uidlmap::domain::DovecotVersion;

use crate::mutate::Rng;
use crate::runner::Harness;

/// The password of every seed.
const MARKER: &str = "s3cret-MARKER";

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/dovecot_conf")
}

/// Whether each line that holds the marker is a password line (so that an error
/// showing the marker would show a password).
fn marker_only_in_passwords(text: &str) -> bool {
    text.lines().filter(|l| l.contains(MARKER)).all(|l| {
        let key = l.split(['=', '{']).next().unwrap_or("");
        key.to_ascii_lowercase().contains("pass") && !key.contains(MARKER)
    })
}

fn check(input: &[u8], _rng: &mut Rng) -> Result<(), String> {
    let text = String::from_utf8_lossy(input).into_owned();
    let render = || match parse_text("fuzz.conf", &text) {
        Ok(c) => {
            // What verify asks of a configuration, under both versions.
            let mut out = format!(
                "ok {:?} {:?}",
                c.syntax,
                c.settings().map(|s| s.spelled_pairs())
            );
            for v in DovecotVersion::ALL {
                out.push_str(&format!(" {:?} {:?}", c.imapc(v), c.refusal(v)));
            }
            out
        }
        Err(e) => format!("error {e:#}"),
    };
    let first = render();
    if first != render() {
        return Err(format!("two parses differ: {first:.200}"));
    }
    if first.starts_with("error") && marker_only_in_passwords(&text) && first.contains(MARKER) {
        return Err(format!("a password shows in an error: {first:.300}"));
    }
    Ok(())
}

fn seeds() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seed_dir())
        .expect("tests/fuzz/seeds/dovecot_conf readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the seeds are there");
    files
        .iter()
        .map(|f| std::fs::read(f).expect("readable"))
        .collect()
}

const DICT: &[&[u8]] = &[
    b"\n",
    b"\n  ",
    b" = ",
    b"=",
    b" {\n",
    b"}\n",
    b"{",
    b"}",
    b"\"",
    b"\\\"",
    b"\\",
    b" #",
    b"#",
    b"!include ",
    b"!include_try ",
    b"*.conf",
    b"../",
    b"%u",
    b"%{user}",
    b"%{user | domain}",
    b"%{",
    b"%",
    b"plugin {\n",
    b"protocol doveadm {\n",
    b"imapc {\n",
    b"pop3c {\n",
    b"mail_plugins {\n",
    b"namespace pop3c {\n",
    b"imapc_password = ",
    b"password = ",
    b"imapc_features = ",
    b"features = ",
    b"rfc822.size",
    b"no-fetch-size",
    b"fetch-headers",
    b"throttle:",
    b"mail_prefetch_count = ",
    b"mail_location = ",
    b"mail_driver = ",
    b"dovecot_config_version = 2.4.1\n",
    b"pop3_migration_",
    b"pop3_migration_skip_size_check = ",
    b"pop3_migration_mailbox = ",
    b"imapc_port = ",
    b"port = ",
    b"ssl = ",
    b"starttls",
    b"# hidden, use -P to show it",
    b"yes",
    b"no",
    b"off",
    b"65535",
    b"65536",
    b"4294967296",
];

pub fn harness() -> Harness {
    Harness {
        name: "dovecot_conf",
        seeds: seeds(),
        dict: DICT,
        max_len: 16 * 1024,
        mem_base: 4 << 20,
        mem_per_byte: 256,
        per_input: Duration::from_secs(2),
        make_check: Box::new(|| Box::new(check)),
    }
}
