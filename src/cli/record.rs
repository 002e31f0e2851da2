//! `uidlmap record`: read a live provider's IMAP and POP3 services (as `verify` connects
//! to them) and write an anonymised scenario of it ([`uidlmap::scenario::record`]).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use uidlmap::migrate::Source;
use uidlmap::scenario::load::MAX_TOTAL_BYTES;
use uidlmap::scenario::record::{self, RecordError, WriteOptions};

use super::bad_input;
use super::exit::{Exit, marked};
use super::verify::progress::Ticker;
use super::verify::{ConnectArgs, check_output, settle_connection, write_atomically};

/// The long `--help` text of `uidlmap record`.
pub const LONG_ABOUT: &str = "\
Record a live provider as a scenario file: log in to its IMAP and POP3 services, read \
every folder, UID, size, header and message (pipelined; nothing is changed on the \
servers: EXAMINE, BODY.PEEK, TOP and RETR only) and write what Dovecot's pop3-migration \
plugin would see of it, anonymised: every header is replaced by a synthetic one of the \
same size that hashes equal exactly where the provider's hash equal, every body by filler \
of the same size. No subject, address, Message-ID or body text is written. UIDLs are kept \
(they are what the migration is about) unless --anonymise-uidls. Sizes that differ from \
the message (RFC822.SIZE, LIST), headers that a server serves differently (TOP without \
the blank line, …) and the servers' capabilities are written as the scenario's overrides, \
quirks and server knobs. `uidlmap run FILE` then predicts Dovecot on it, and `uidlmap \
serve FILE` serves it.

URLs, passwords, TLS and timeouts are taken exactly as `uidlmap verify` takes them.";

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,

    /// The scenario file to write (atomically: a failed recording leaves no file)
    #[arg(long, visible_alias = "output", value_name = "FILE")]
    pub out: PathBuf,

    /// Replace every UIDL by a token of the same length and character classes, equal
    /// where the UIDLs were equal
    #[arg(long)]
    pub anonymise_uidls: bool,
}

/// `YYYY-MM-DDTHH:MM:SSZ` of now.
fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = fake_servers::generate::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// What the comment at the top says was recorded: the services, never the user's
/// name (often an address that the messages hold) or a password.
fn what(source: &Source, when: &str) -> String {
    let scheme = |s: uidlmap::tls::Security, plain: &str, tls: &str| match s {
        uidlmap::tls::Security::Implicit => tls.to_string(),
        uidlmap::tls::Security::StartTls => format!("{plain} (STARTTLS)"),
        uidlmap::tls::Security::Plain => plain.to_string(),
    };
    format!(
        "Recorded by `uidlmap record` at {when} from IMAP {}://{} and POP3 {}://{}.",
        scheme(source.imap.security, "imap", "imaps"),
        source.imap.server_name(),
        scheme(source.pop3.security, "pop3", "pop3s"),
        source.pop3.server_name(),
    )
}

/// Below this many bytes of messages the recording is loaded before it is written
/// (loading renders every message: memory grows with the mailbox, which the reading
/// itself avoids).
const LOAD_CHECK_BYTES: u64 = 32 << 20;

/// The file must be a scenario the loader takes: say so now rather than at the first
/// `uidlmap run`. A small recording is loaded; a big one is held to the loader's limit
/// on the bytes of its messages.
fn check_loads(rec: &record::Recording, text: &str, out: &Path) -> anyhow::Result<()> {
    let bytes: u64 = rec
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .map(|m| m.full.size)
        .chain(rec.pop3.iter().map(|p| p.list_size))
        .sum();
    let refuse = |why: String| {
        Err(marked(
            Exit::DataErr,
            anyhow!("the recording does not load as a scenario, so it was not written: {why}"),
        ))
    };
    if bytes > MAX_TOTAL_BYTES {
        return refuse(format!(
            "its messages take about {bytes} bytes, more than the {MAX_TOTAL_BYTES} a scenario may hold"
        ));
    }
    if bytes <= LOAD_CHECK_BYTES {
        let dir = out.parent().unwrap_or(Path::new("."));
        if let Err(e) = uidlmap::scenario::load_str(text, out, dir) {
            return refuse(e.to_string());
        }
    }
    Ok(())
}

pub fn run(args: &RecordArgs) -> anyhow::Result<()> {
    if args.conn.insecure {
        eprintln!(
            "uidlmap: WARNING: --insecure: TLS certificates are NOT verified; anyone on the network path can read the passwords and the mail"
        );
    }
    check_output(&args.out).map_err(bad_input)?;
    let (source, opts) = settle_connection(&args.conn).map_err(bad_input)?;
    let show = io::IsTerminal::is_terminal(&io::stderr());
    let progress = opts.progress.clone();
    let retries = opts.retry.retries;
    let recorded = super::verify::runtime()?
        .block_on(async {
            let ticker = show.then(|| Ticker::start(None, "uidlmap: ".into(), progress));
            let r = record::record_with_retries(&source, &opts, |e, n, wait| {
                eprintln!(
                    "uidlmap: {e}; retry {n} of {retries} in {:.1} s",
                    wait.as_secs_f64()
                )
            })
            .await;
            if let Some(t) = ticker {
                t.finish();
            }
            r
        })
        .map_err(|e| match e {
            // The account kept changing under the read: try again later.
            e @ RecordError::Changed(_) => marked(Exit::TempFail, anyhow!(e)),
            e => anyhow::Error::new(e),
        })
        .context("recording failed")?;
    let text = record::write_scenario(
        &recorded,
        &WriteOptions {
            anonymise_uidls: args.anonymise_uidls,
            what: what(&source, &now_utc()),
        },
    )
    .map_err(|e| marked(Exit::DataErr, anyhow!(e)))?;
    check_loads(&recorded, &text, &args.out)?;
    write_atomically(&args.out, &text).map_err(|e| marked(Exit::IoErr, e))?;
    let imap: usize = recorded.folders.iter().map(|f| f.messages.len()).sum();
    eprintln!(
        "uidlmap: recorded {imap} IMAP messages in {} folders and {} POP3 entries into {}",
        recorded.folders.len(),
        recorded.pop3.len(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_iso_8601() {
        let s = now_utc();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }
}
