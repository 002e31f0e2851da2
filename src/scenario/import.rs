//! `uidlmap scenario import`: a scenario file from real mail — Maildirs for the IMAP
//! folders and for the POP3 maildrop, and mbox files — so that a provider's store can be
//! run as it is (or anonymised, [`super::anonymise`]).
//!
//! Messages with the same bytes in the IMAP and POP3 stores are one message of the
//! scenario. IMAP UID order and UIDVALIDITY come from Dovecot's `dovecot-uidlist` where
//! the Maildir has one (else file-name order, UIDs from 1); POP3 order is the POP3
//! Maildir's UID order and each UIDL is its `dovecot-uidlist` `P` field, else Dovecot's
//! default `%08Xu%08Xv` over that Maildir's UIDs. The expectation written is a
//! placeholder (`success`) to review: `uidlmap run` prints what is predicted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::anonymise::Anonymiser;

/// Largest message read (a store with bigger ones is not a scenario for this tool).
pub const MAX_MESSAGE: u64 = 64 << 20;

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportSpec {
    /// IMAP folders in LIST order: (name, Maildir or mbox, is mbox).
    pub imap: Vec<(String, PathBuf, bool)>,
    /// The POP3 maildrop's Maildir.
    pub pop3: Option<PathBuf>,
    /// Write messages as `.eml` files into this folder instead of inline.
    pub fixtures: Option<PathBuf>,
    /// The scenario file's folder (fixture paths are relative to it).
    pub out_dir: PathBuf,
    pub anonymise: bool,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Bad { path: PathBuf, what: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One message of a store, in UID order.
struct Stored {
    uid: u32,
    bytes: Vec<u8>,
    /// Dovecot's stored POP3 UIDL (`P` field), if any.
    uidl: Option<String>,
}

/// A Maildir's messages in UID order and its UIDVALIDITY (if it has a uidlist).
fn read_maildir(dir: &Path) -> Result<(Vec<Stored>, Option<u32>), ImportError> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for sub in ["cur", "new"] {
        let d = dir.join(sub);
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&d)(e)),
        };
        for e in rd {
            let e = e.map_err(io(&d))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                files.push((name, e.path()));
            }
        }
    }
    if files.is_empty() && !dir.join("cur").is_dir() && !dir.join("new").is_dir() {
        return Err(ImportError::Bad {
            path: dir.to_path_buf(),
            what: "not a Maildir (no cur/ or new/)".into(),
        });
    }
    // The base name (before `:2,flags`) is what dovecot-uidlist records.
    let base = |n: &str| n.split(':').next().unwrap_or(n).to_string();
    let uidlist = dir.join("dovecot-uidlist");
    let (order, uidvalidity) = match std::fs::read_to_string(&uidlist) {
        Ok(text) => {
            let (o, v) = parse_uidlist(&text);
            (Some(o), v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
        Err(e) => return Err(io(&uidlist)(e)),
    };
    let mut keyed: Vec<(u32, Option<String>, PathBuf)> = match &order {
        Some(order) => {
            let by_base: HashMap<&str, &(u32, Option<String>)> =
                order.iter().map(|(b, v)| (b.as_str(), v)).collect();
            let mut next = order.iter().map(|(_, (u, _))| *u).max().unwrap_or(0) + 1;
            let mut v = Vec::new();
            files.sort();
            for (name, path) in files {
                match by_base.get(base(&name).as_str()) {
                    Some((uid, uidl)) => v.push((*uid, uidl.clone(), path)),
                    // Not yet in the uidlist: Dovecot gives it the next UID.
                    None => {
                        v.push((next, None, path));
                        next += 1;
                    }
                }
            }
            v
        }
        None => {
            // Maildir names start with the delivery time: name order is arrival order.
            files.sort_by(|a, b| maildir_key(&a.0).cmp(&maildir_key(&b.0)));
            files
                .into_iter()
                .zip(1..)
                .map(|((_, p), uid)| (uid, None, p))
                .collect()
        }
    };
    keyed.sort_by_key(|k| k.0);
    let mut out = Vec::with_capacity(keyed.len());
    for (uid, uidl, path) in keyed {
        out.push(Stored {
            uid,
            bytes: read_bounded(&path)?,
            uidl,
        });
    }
    Ok((out, uidvalidity))
}

fn maildir_key(name: &str) -> (u64, &str) {
    let t = name.split('.').next().and_then(|t| t.parse().ok());
    (t.unwrap_or(u64::MAX), name)
}

/// `dovecot-uidlist`: base name → (UID, `P` field), and the header's `V` UIDVALIDITY.
fn parse_uidlist(text: &str) -> (Vec<(String, (u32, Option<String>))>, Option<u32>) {
    let mut lines = text.lines();
    let uidvalidity = lines.next().and_then(|h| {
        h.split(' ')
            .find_map(|f| f.strip_prefix('V').and_then(|v| v.parse().ok()))
    });
    let mut out = Vec::new();
    for line in lines {
        let Some((head, name)) = line.split_once(" :").or_else(|| line.split_once(' ')) else {
            continue;
        };
        let mut fields = head.split(' ');
        let Some(uid) = fields.next().and_then(|u| u.parse().ok()) else {
            continue;
        };
        let uidl = fields.find_map(|f| f.strip_prefix('P').map(str::to_string));
        out.push((name.to_string(), (uid, uidl)));
    }
    (out, uidvalidity)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, ImportError> {
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_MESSAGE {
        return Err(ImportError::Bad {
            path: path.to_path_buf(),
            what: format!("{len} bytes, more than the {MAX_MESSAGE} a message may have"),
        });
    }
    std::fs::read(path).map_err(io(path))
}

/// An mbox file's messages (mboxrd: `>From ` lines lose one `>`), UIDs from 1.
fn read_mbox(path: &Path) -> Result<Vec<Stored>, ImportError> {
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if len > 16 * MAX_MESSAGE {
        return Err(ImportError::Bad {
            path: path.to_path_buf(),
            what: format!("{len} bytes: too big an mbox"),
        });
    }
    let data = std::fs::read(path).map_err(io(path))?;
    let mut out: Vec<Stored> = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(finish_mbox(m, out.len()));
            }
            cur = Some(Vec::new());
            continue;
        }
        let Some(m) = cur.as_mut() else {
            return Err(ImportError::Bad {
                path: path.to_path_buf(),
                what: "not an mbox (the first line is not a `From ` line)".into(),
            });
        };
        let unquoted =
            line.starts_with(b">") && line.iter().skip_while(|&&b| b == b'>').take(5).eq(b"From ");
        m.extend_from_slice(if unquoted { &line[1..] } else { line });
    }
    if let Some(m) = cur.take() {
        out.push(finish_mbox(m, out.len()));
    }
    Ok(out)
}

/// The separator's preceding blank line belongs to the mbox, not the message.
fn finish_mbox(mut m: Vec<u8>, i: usize) -> Stored {
    if m.ends_with(b"\r\n\r\n") {
        m.truncate(m.len() - 2);
    } else if m.ends_with(b"\n\n") {
        m.truncate(m.len() - 1);
    }
    Stored {
        uid: i as u32 + 1,
        bytes: m,
        uidl: None,
    }
}

/// The messages of the scenario, each once, by id.
#[derive(Default)]
struct Messages {
    by_bytes: HashMap<Vec<u8>, String>,
    ordered: Vec<(String, Vec<u8>, Option<String>)>,
}

impl Messages {
    /// The id of `bytes`, new unless the same bytes are already a message that `view`
    /// (the ids already in the same listing) does not hold yet.
    fn id(&mut self, bytes: Vec<u8>, view: &[String]) -> String {
        if let Some(id) = self.by_bytes.get(&bytes)
            && !view.contains(id)
        {
            return id.clone();
        }
        let id = format!("m{}", self.ordered.len() + 1);
        self.by_bytes
            .entry(bytes.clone())
            .or_insert_with(|| id.clone());
        self.ordered.push((id.clone(), bytes, None));
        id
    }
}

/// Builds the scenario file's text; fixture files, if asked for, are written as a side
/// effect.
pub fn import(spec: &ImportSpec) -> Result<String, ImportError> {
    let mut msgs = Messages::default();
    let mut mailboxes: Vec<(String, Vec<String>, Vec<u32>, Option<u32>)> = Vec::new();
    for (name, path, mbox) in &spec.imap {
        let (stored, uidvalidity) = if *mbox {
            (read_mbox(path)?, None)
        } else {
            read_maildir(path)?
        };
        let mut ids = Vec::new();
        let mut uids = Vec::new();
        for s in stored {
            ids.push(msgs.id(s.bytes, &ids));
            uids.push(s.uid);
        }
        mailboxes.push((name.clone(), ids, uids, uidvalidity));
    }
    let mut pop3 = Vec::new();
    if let Some(dir) = &spec.pop3 {
        let (stored, uidvalidity) = read_maildir(dir)?;
        for s in stored {
            let uidl = s
                .uidl
                .unwrap_or_else(|| format!("{:08x}{:08x}", s.uid, uidvalidity.unwrap_or(1)));
            let id = msgs.id(s.bytes, &pop3);
            let m = msgs
                .ordered
                .iter_mut()
                .find(|m| m.0 == id)
                .expect("just added");
            m.2 = Some(uidl);
            pop3.push(id);
        }
    }

    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Imported by `uidlmap scenario import`{}.",
        if spec.anonymise { ", anonymised" } else { "" }
    );
    let _ = writeln!(o, "description: {}", quote(spec.description.as_bytes()).0);
    o.push_str("messages:\n");
    let mut anon = Anonymiser::new();
    for (id, bytes, uidl) in &msgs.ordered {
        let bytes = if spec.anonymise {
            anon.message(bytes).map_err(|e| ImportError::Bad {
                path: spec.out_dir.clone(),
                what: format!("message {id}: {e}"),
            })?
        } else {
            bytes.clone()
        };
        let _ = writeln!(o, "  {id}:");
        match &spec.fixtures {
            Some(dir) => {
                let file = dir.join(format!("{id}.eml"));
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                std::fs::write(&file, &bytes).map_err(io(&file))?;
                let rel = file.strip_prefix(&spec.out_dir).unwrap_or(&file);
                let _ = writeln!(o, "    file: {}", quote(rel.to_string_lossy().as_bytes()).0);
            }
            None => {
                let (text, latin1) = quote(&bytes);
                let _ = writeln!(o, "    raw: {text}");
                if latin1 {
                    o.push_str("    encoding: latin1\n");
                }
            }
        }
        o.push_str("    line_ending: keep\n");
        if let Some(u) = uidl {
            let _ = writeln!(o, "    pop3: {{ uidl: {} }}", quote(u.as_bytes()).0);
        }
    }
    o.push_str("imap:\n  mailboxes:\n");
    if !mailboxes.iter().any(|m| m.0 == "INBOX") {
        o.push_str("    INBOX: []\n");
    }
    for (name, ids, uids, uidvalidity) in &mailboxes {
        let _ = writeln!(o, "    {}:", quote(name.as_bytes()).0);
        let _ = writeln!(o, "      messages: [{}]", ids.join(", "));
        if !uids.is_empty() {
            let list: Vec<String> = uids.iter().map(u32::to_string).collect();
            let _ = writeln!(o, "      uids: [{}]", list.join(", "));
        }
        if let Some(v) = uidvalidity {
            let _ = writeln!(o, "      uidvalidity: {v}");
        }
    }
    o.push_str("pop3:\n");
    let _ = writeln!(o, "  messages: [{}]", pop3.join(", "));
    o.push_str("# Review: `uidlmap run` on this file prints what Dovecot is predicted to do.\n");
    o.push_str("expect: { outcome: success }\n");
    Ok(o)
}

/// A YAML double-quoted scalar holding `bytes`, and whether it needs `encoding: latin1`
/// (bytes that are not UTF-8, written one character per byte).
pub fn quote(bytes: &[u8]) -> (String, bool) {
    let (chars, latin1): (Vec<char>, bool) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.chars().collect(), false),
        Err(_) => (bytes.iter().map(|&b| b as char).collect(), true),
    };
    let mut o = String::with_capacity(bytes.len() + 2);
    o.push('"');
    for c in chars {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\r' => o.push_str("\\r"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\0' => o.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(o, "\\x{:02X}", c as u32);
            }
            c if latin1 && (c as u32) >= 0x80 => {
                let _ = write!(o, "\\x{:02X}", c as u32);
            }
            // Non-ASCII UTF-8 stays as written; line and paragraph separators are
            // escaped, as YAML readers may fold them.
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    (o, latin1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidlist_gives_uids_uidls_and_uidvalidity() {
        let (o, v) = parse_uidlist("3 V1709280000 N4 G0123\n1 :a.host\n3 W120 P0001abc :b.host\n");
        assert_eq!(v, Some(1709280000));
        assert_eq!(o[0], ("a.host".into(), (1, None)));
        assert_eq!(o[1], ("b.host".into(), (3, Some("0001abc".into()))));
    }

    #[test]
    fn quoting_escapes_what_yaml_would_change() {
        assert_eq!(quote(b"a\"b\\\r\n\t\x01").0, "\"a\\\"b\\\\\\r\\n\\t\\x01\"");
        assert_eq!(quote(b"Gr\xfc\xdf"), ("\"Gr\\xFC\\xDF\"".into(), true));
        assert_eq!(quote("Grüß".as_bytes()), ("\"Grüß\"".into(), false));
    }

    #[test]
    fn an_mbox_and_a_maildir_import_as_fixtures_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("in.mbox");
        std::fs::write(
            &mbox,
            "From a@b Fri Mar  1 08:00:00 2024\nSubject: one\n\n>From the start\n\n\
             From a@b Fri Mar  1 08:01:00 2024\nSubject: two\n\nbody\n",
        )
        .unwrap();
        let md = dir.path().join("pop");
        std::fs::create_dir_all(md.join("cur")).unwrap();
        std::fs::create_dir_all(md.join("new")).unwrap();
        std::fs::write(md.join("cur/2.x:2,S"), "Subject: two\n\nbody\n").unwrap();
        std::fs::write(md.join("new/1.x"), "Subject: zero\n\n").unwrap();
        let got = read_mbox(&mbox).unwrap();
        assert_eq!(got[0].bytes, b"Subject: one\n\nFrom the start\n");
        assert_eq!(got[1].bytes, b"Subject: two\n\nbody\n");
        let spec = ImportSpec {
            imap: vec![("INBOX".into(), mbox, true)],
            pop3: Some(md),
            fixtures: Some(dir.path().join("_fixtures")),
            out_dir: dir.path().to_path_buf(),
            anonymise: false,
            description: "test".into(),
        };
        let text = import(&spec).unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, &text).unwrap();
        let sc = crate::scenario::load_file(&file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The second mbox message is the maildir's second: one message, in both views.
        assert_eq!(sc.world.imap.mailboxes[0].messages.len(), 2);
        assert_eq!(sc.world.pop3.messages.len(), 2);
        assert!(text.contains("messages: [m3, m2]"), "{text}");
        assert!(text.contains("file: \"_fixtures/m1.eml\""), "{text}");
    }
}
