//! `uidlmap verify`: read a live provider's IMAP and POP3 services (fast, both at once),
//! predict UIDL by UIDL what Dovecot's pop3-migration plugin would store, audit that
//! against the messages' content, and recommend settings.
//!
//! Here: settling the inputs, the pipeline call and the verdict. The command line is
//! in [`args`], URLs in [`url`], `--dovecot-conf` in [`dovecot_conf`], passwords in
//! [`password`], many accounts in [`accounts`].

mod accounts;
mod args;
mod dovecot_conf;
mod password;
mod url;

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use uidlmap::domain::{Endpoint, ImapcProfile};
use uidlmap::input;
use uidlmap::matcher::{MessageRead, Read, Settings};
use uidlmap::migrate::{self, Source};
use uidlmap::predict;
use uidlmap::report::{self, Report};
use uidlmap::retry::Retry;
use uidlmap::tls::Trust;

pub use args::{Format, LONG_ABOUT, VerifyArgs};
use dovecot_conf::{DovecotConf, parse_dovecot_conf};
use password::{password, read_password_file};
use url::{Proto, endpoint};

use super::{bad_input, check_failed};

/// Everything settled before connecting.
pub(super) struct Plan {
    source: Source,
    opts: migrate::Options,
}

fn settle(args: &VerifyArgs) -> anyhow::Result<Plan> {
    settle_for(
        args,
        args.imap.as_deref(),
        args.pop3.as_deref(),
        args.password_file.as_deref(),
    )
}

/// Settles one account: its URLs and password file, the rest from `args`.
pub(super) fn settle_for(
    args: &VerifyArgs,
    imap: Option<&str>,
    pop3: Option<&str>,
    password_file: Option<&Path>,
) -> anyhow::Result<Plan> {
    let conf = match &args.dovecot_conf {
        Some(path) => {
            let text = input::read_text(path, input::CONFIG)?;
            parse_dovecot_conf(path, &text)?
        }
        None => DovecotConf::default(),
    };
    let mut settings = Settings::enabled();
    for (n, key, value) in &conf.plugin {
        settings.set(key, value).map_err(|e| {
            let path = args.dovecot_conf.as_deref().unwrap_or(Path::new("-"));
            anyhow!("{}:{n}: {e}", path.display())
        })?;
    }
    for s in &args.set {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s:?}: expected NAME=VALUE"))?;
        settings
            .set(k.trim(), v.trim())
            .with_context(|| format!("--set {s:?}"))?;
    }
    let profile = args
        .imapc_profile
        .or(conf.profile)
        .unwrap_or(ImapcProfile::Docs);
    let (ih, ip, iu, is) = endpoint(Proto::Imap, imap, &conf.imap, args.starttls)?;
    let (ph, pp, pu, ps) = endpoint(Proto::Pop3, pop3, &conf.pop3, args.starttls)?;
    let file = password_file.map(read_password_file).transpose()?;
    let ipass = password(
        Proto::Imap,
        file.as_ref(),
        conf.imap_password.as_ref(),
        &format!("{iu}@{ih}"),
    )?;
    let ppass = password(
        Proto::Pop3,
        file.as_ref(),
        conf.pop3_password.as_ref(),
        &format!("{pu}@{ph}"),
    )?;
    let mut trust = Trust::system();
    trust.ca_files = args.ca_file.clone();
    trust.insecure = args.insecure;
    let mut opts = migrate::Options::new(settings, profile);
    opts.audit = !args.no_audit;
    opts.connect_timeout = Duration::from_secs(args.connect_timeout.max(1));
    opts.command_timeout = Duration::from_secs(args.timeout.max(1));
    opts.retry = Retry {
        retries: args.retries,
        delay: Duration::from_millis(args.retry_delay_ms),
    };
    if let Some(path) = &args.cache {
        let text = input::read_text(path, input::CACHE)?;
        opts.cache = report::read_cache(&text).map_err(|e| anyhow!("{}:{e}", path.display()))?;
    }
    Ok(Plan {
        source: Source {
            imap: Endpoint {
                host: ih,
                port: ip,
                user: iu,
                password: ipass,
                security: is,
            },
            pop3: Endpoint {
                host: ph,
                port: pp,
                user: pu,
                password: ppass,
                security: ps,
            },
            trust,
        },
        opts,
    })
}

/// What a verification found: the report, and what could not be read (one line per
/// side; empty when everything was read).
pub struct Verified {
    pub report: Report,
    pub unread: Vec<String>,
}

/// One line per side with messages that could not be read (neither hashed nor gone).
fn unread(m: &migrate::Migration, source: &Source) -> Vec<String> {
    let reads = m.all.as_ref().unwrap_or(&m.reads);
    let failed = |r: &MessageRead| -> Option<String> {
        [Some(&r.header), r.full.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|r| match r {
                Read::Failed { reason } => Some(reason.to_string()),
                _ => None,
            })
    };
    let mut out = Vec::new();
    let pop3: Vec<(u32, String)> = reads
        .pop3
        .iter()
        .filter_map(|(n, r)| failed(r).map(|why| (*n, why)))
        .collect();
    if let Some((n, why)) = pop3.first() {
        out.push(format!(
            "POP3 server {}:{}: {} message(s) could not be read (first: message {n}: {why})",
            source.pop3.host,
            source.pop3.port,
            pop3.len()
        ));
    }
    let mut imap = 0;
    let mut first = None;
    for (mailbox, map) in &reads.imap {
        for (uid, r) in map.iter() {
            if let Some(why) = failed(r) {
                imap += 1;
                first.get_or_insert_with(|| format!("{mailbox} UID {uid}: {why}"));
            }
        }
    }
    if let Some(first) = first {
        out.push(format!(
            "IMAP server {}: {imap} message(s) could not be read (first: {first})",
            source.imap.server_name()
        ));
    }
    out
}

/// The verdict: whether Dovecot would carry every UIDL correctly. A verdict that
/// could not be reached is never a success: messages that could not be read fail as
/// any read failure does (exit 2), saying which; `unknown` verdicts from ambiguous
/// content fail as a check (exit 1).
pub(super) fn verdict(v: &Verified) -> anyhow::Result<()> {
    let r = &v.report;
    let unknown = r.audit.as_ref().map_or(0, |a| a.counts.unknown);
    if !v.unread.is_empty() {
        // What was predicted is a Dovecot run that meets the same failure: not an
        // answer about the provider.
        return Err(bad_input(anyhow!(
            "could not verify: {}; {unknown} UIDL verdict(s) unknown (the report assumes Dovecot meets the same failure)",
            v.unread.join("; ")
        )));
    }
    if unknown > 0 {
        let found = match problem(r) {
            Err(m) => format!("; besides, {m}"),
            Ok(()) => String::new(),
        };
        return Err(check_failed(anyhow!(
            "{unknown} UIDL verdict(s) unknown: their content matches no single message on the other side{found}"
        )));
    }
    problem(r).map_err(|m| check_failed(anyhow!(m)))
}

/// Whether Dovecot would carry every UIDL correctly, as far as the audit could tell.
fn problem(r: &Report) -> Result<(), String> {
    let exit = r.dovecot.exit_code;
    let problems = r
        .dovecot
        .log
        .iter()
        .filter(|l| l.starts_with("Warning:") || l.starts_with("Error:"))
        .count();
    match &r.audit {
        Some(a) => {
            if exit == 0 && a.counts.all_right() && a.counts.not_migrated == 0 {
                Ok(())
            } else {
                Err(format!(
                    "Dovecot would not carry every UIDL right: doveadm exit {exit}, {} wrong, {} lost, {} order-lost, {} not migrated; {}",
                    a.counts.wrong,
                    a.counts.lost,
                    a.counts.order_lost,
                    a.counts.not_migrated,
                    a.recommendation
                ))
            }
        }
        None if exit == 0 && problems == 0 => Ok(()),
        None => Err(format!(
            "Dovecot would report {problems} warning(s) or error(s) (doveadm exit {exit}); run without --no-audit to learn which UIDLs are affected"
        )),
    }
}

fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Human => report::human(r),
        Format::Json => {
            let mut s = r.to_json();
            s.push('\n');
            s
        }
        Format::Yaml => r.to_yaml(),
        Format::Html => report::html::render(std::slice::from_ref(r)),
        Format::Tsv => {
            let mut o = String::new();
            let _ = writeln!(o, "{}", report::TSV_HEADER);
            o.push_str(&report::tsv_lines(r));
            o
        }
        Format::DovecotUidlist => report::dovecot_uidlist(r),
    }
}

/// The folder `--output` lands in.
fn output_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `--output` must be a regular file or absent (never a device, FIFO, symbolic link
/// or folder, which the atomic rename would replace: as root, `/dev/null` itself),
/// and its folder must take a new file. Checked before any network work; returns
/// the old file's permissions, which the new one keeps.
pub(super) fn check_output(path: &Path) -> anyhow::Result<Option<std::fs::Permissions>> {
    let old = match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let t = meta.file_type();
            let what = if t.is_symlink() {
                Some("a symbolic link")
            } else if t.is_dir() {
                Some("a folder")
            } else if !t.is_file() {
                Some("a device, FIFO or socket")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(anyhow!(
                    "--output {}: is {what}, not a regular file; refusing to replace it",
                    path.display()
                ));
            }
            Some(meta.permissions())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!("--output {}: {e}", path.display())),
    };
    let dir = output_dir(path);
    tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "--output {}: cannot create a file in {}",
            path.display(),
            dir.display()
        )
    })?;
    Ok(old)
}

/// Writes `text` to `path` atomically: a temporary file beside it (with the old
/// file's permissions), renamed over it; refused when `path` is not a regular file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let old = check_output(path)?;
    let dir = output_dir(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    if let Some(perms) = old {
        tmp.as_file()
            .set_permissions(perms)
            .with_context(|| format!("keeping the permissions of {}", path.display()))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Why one read of the source failed.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    #[error("POP3 server {server}: {line}")]
    Pop3 {
        server: String,
        line: String,
        temporary: bool,
    },
}

impl ReadError {
    fn is_temporary(&self) -> bool {
        match self {
            ReadError::Migrate(e) => e.is_temporary(),
            ReadError::Pop3 { temporary, .. } => *temporary,
        }
    }
}

/// One read of the source, without retries.
async fn read_once(
    source: &Source,
    opts: &migrate::Options,
) -> Result<migrate::Migration, ReadError> {
    let m = migrate::fast_read(source, opts).await?;
    if let Some(line) = &m.listing.pop3_error {
        // UIDL missing is Dovecot's failure to report; anything else (network, login)
        // keeps us from verifying at all.
        if !line.ends_with("UIDLs not supported by server") {
            let line = line
                .strip_prefix("pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: ")
                .unwrap_or(line);
            return Err(ReadError::Pop3 {
                server: format!("{}:{}", source.pop3.host, source.pop3.port),
                line: line.to_string(),
                temporary: m.pop3_temporary,
            });
        }
    }
    Ok(m)
}

/// Reads the source and builds the report.
pub async fn verify(source: &Source, opts: &migrate::Options) -> anyhow::Result<Verified> {
    // One retry budget for the whole read: a failed login or a connection dropped
    // later both cost the whole read, and the logins inside are not retried again
    // (that made (R+1)² attempts).
    let once = migrate::Options {
        retry: opts.retry.none(),
        ..opts.clone()
    };
    let retries = opts.retry.retries;
    let m = opts
        .retry
        .run(
            ReadError::is_temporary,
            |e, n, wait| {
                eprintln!(
                    "uidlmap: {e}; retry {n} of {retries} in {:.1} s",
                    wait.as_secs_f64()
                )
            },
            || read_once(source, &once),
        )
        .await
        // The message already holds the cause; anyhow's chain would repeat it.
        .map_err(|e| anyhow!("{e}"))?;
    let p = predict::predict(&m, &predict::Inputs::new(&opts.settings))?;
    let report = p.report(
        &format!("{}@{}", source.imap.user, source.imap.host),
        None,
        opts.profile,
        &|_, _| None,
    );
    Ok(Verified {
        report,
        unread: unread(&m, source),
    })
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    if args.insecure {
        eprintln!(
            "uidlmap: WARNING: --insecure: TLS certificates are NOT verified; anyone on the network path can read the passwords and the mail"
        );
    }
    if let Some(path) = &args.output {
        check_output(path).map_err(bad_input)?;
    }
    if let Some(path) = &args.accounts {
        return accounts::run_accounts(args, path);
    }
    if args.resume || args.shard.is_some() {
        return Err(bad_input(anyhow!("--resume and --shard need --accounts")));
    }
    let plan = settle(args).map_err(bad_input)?;
    let show = io::IsTerminal::is_terminal(&io::stderr());
    let progress = plan.opts.progress.clone();
    let verified = runtime()?
        .block_on(async {
            if !show {
                return verify(&plan.source, &plan.opts).await;
            }
            // Progress on the terminal only: a line rewritten in place while reading.
            let ticker = tokio::spawn(async move {
                loop {
                    eprint!("\r\x1b[K{}", accounts::progress_line(&progress));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            });
            let r = verify(&plan.source, &plan.opts).await;
            ticker.abort();
            eprint!("\r\x1b[K");
            r
        })
        .context("verification failed")?;
    let out = render(&verified.report, args.format);
    match &args.output {
        Some(path) => write_atomically(path, &out).map_err(bad_input)?,
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
    verdict(&verified)
}
