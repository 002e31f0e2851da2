//! `uidlmap verify`: read a live provider's IMAP and POP3 services (fast, both at once),
//! predict UIDL by UIDL what Dovecot's pop3-migration plugin would store, audit that
//! against the messages' content, and recommend settings.
//!
//! Here: settling the inputs, the pipeline call and the verdict. The command line is
//! in [`args`], URLs in [`url`], `--dovecot-conf` in [`dovecot_conf`], passwords in
//! [`password`], many accounts in [`accounts`].

mod accounts;
mod args;
mod password;
pub(super) mod progress;
mod url;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use uidlmap::domain::{Destination, DovecotVersion, Endpoint, ImapcProfile};
use uidlmap::input;
use uidlmap::matcher::settings::ConfigError;
use uidlmap::matcher::{MessageRead, Read};
use uidlmap::migrate::{self, Source};
use uidlmap::predict;
use uidlmap::report::{self, Report};
use uidlmap::retry::Retry;
use uidlmap::tls::{Security, Trust};

pub use args::{ConnectArgs, Format, LONG_ABOUT, VerifyArgs};
use password::{password, read_password_file};
use uidlmap::config::dovecot_conf::{self, DovecotConf};
use url::{Proto, endpoint};

use super::exit::{Exit, Worded, marked};
use super::{bad_input, check_failed, config, usage};

/// Everything settled before connecting.
#[derive(Clone)]
pub(super) struct Plan {
    source: Source,
    opts: migrate::Options,
    /// The destination's mail storage: what it keeps of each UIDL.
    destination: Destination,
    /// What the Dovecot version refuses in the configuration: predicted without
    /// reading anything.
    refusal: Option<ConfigError>,
    version: DovecotVersion,
}

/// The version of the installed `doveadm`, if any (`2.3.19.1 (…)`, `2.4.1-4 (…)`).
fn installed_version() -> Option<DovecotVersion> {
    // Where PATH is unset or bare, the Debian package's place.
    ["doveadm", "/usr/bin/doveadm"].into_iter().find_map(|bin| {
        let out = std::process::Command::new(bin)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        version_of(&String::from_utf8_lossy(&out.stdout))
    })
}

/// The release line a `--version` output names.
fn version_of(text: &str) -> Option<DovecotVersion> {
    let v = text.split_whitespace().next()?;
    if v.starts_with("2.3.") {
        Some(DovecotVersion::V2_3)
    } else if v.starts_with("2.4.") {
        Some(DovecotVersion::V2_4)
    } else {
        None
    }
}

/// `doveconf -n -P` of the installed Dovecot, read as `--dovecot-conf` would.
fn doveconf_output() -> anyhow::Result<DovecotConf> {
    let out = std::process::Command::new("doveconf")
        .args(["-n", "-P"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running doveconf -n -P (is Dovecot installed here?)")?;
    if !out.status.success() {
        return Err(anyhow!(
            "doveconf -n -P failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let dir = tempfile::tempdir().context("a temporary folder for doveconf's output")?;
    let path = dir.path().join("doveconf-n-P.conf");
    std::fs::write(&path, &out.stdout)?;
    Ok(dovecot_conf::read_dovecot_conf(&path)?)
}

fn settle(args: &VerifyArgs) -> anyhow::Result<Plan> {
    settle_for(
        args,
        args.conn.imap.as_deref(),
        args.conn.pop3.as_deref(),
        args.conn.password_file.as_deref(),
    )
}

/// `--dovecot-conf`, `--doveconf` or nothing.
fn read_conf(conn: &ConnectArgs) -> anyhow::Result<DovecotConf> {
    Ok(match (&conn.dovecot_conf, conn.doveconf) {
        (Some(path), _) => dovecot_conf::read_dovecot_conf(path).map_err(config)?,
        (None, true) => doveconf_output().map_err(config)?,
        (None, false) => DovecotConf::default(),
    })
}

/// Settles one account: its URLs and password file, the rest from `args`.
pub(super) fn settle_for(
    args: &VerifyArgs,
    imap: Option<&str>,
    pop3: Option<&str>,
    password_file: Option<&Path>,
) -> anyhow::Result<Plan> {
    let conf = read_conf(&args.conn)?;
    let version = args
        .dovecot_version
        .or(conf.syntax.as_ref().map(|(v, _)| *v))
        .or_else(installed_version)
        .unwrap_or(DovecotVersion::V2_4);
    if let Some((v, why)) = &conf.syntax {
        eprintln!(
            "uidlmap: the configuration is in Dovecot {} syntax ({why})",
            v.name()
        );
    }
    let mut settings = conf.settings()?;
    for s in &args.set {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| usage(anyhow!("--set {s:?}: expected NAME=VALUE")))?;
        settings
            .set(k.trim(), v.trim())
            .with_context(|| format!("--set {s:?}"))?;
    }
    // A flag wins, then what the configuration writes; with neither, 2.4's own
    // defaults (prefetch 0: one UID a command) and, as before, 2.3's recipe.
    let imapc = args
        .imapc_profile
        .map(|p| p.imapc(version))
        .or(conf.imapc(version))
        .unwrap_or(match version {
            DovecotVersion::V2_3 => ImapcProfile::Docs.imapc(version),
            DovecotVersion::V2_4 => ImapcProfile::Defaults.imapc(version),
        });
    let destination = args.destination.or(conf.destination).unwrap_or_default();
    if args.format == Format::DovecotUidlist && destination != Destination::Maildir {
        return Err(usage(anyhow!(
            "--format dovecot-uidlist shows a maildir's dovecot-uidlist; the destination is {destination}"
        )));
    }
    let refusal = conf.refusal(version);
    let account = Account {
        imap,
        pop3,
        password_file,
    };
    let source = source_for(&args.conn, &conf, version, account, refusal.is_none())?;
    let mut opts = migrate::Options::new(settings, imapc);
    opts.audit = !args.no_audit;
    opts.imap_connections = usize::from(args.connections);
    connection_options(&args.conn, &mut opts);
    if let Some(path) = &args.cache {
        let text = input::read_text(path, input::CACHE)?;
        opts.cache = report::read_cache(&text).map_err(|e| anyhow!("{}:{e}", path.display()))?;
    }
    Ok(Plan {
        source,
        opts,
        destination,
        refusal,
        version,
    })
}

/// One account's URLs and password file.
#[derive(Clone, Copy)]
struct Account<'a> {
    imap: Option<&'a str>,
    pop3: Option<&'a str>,
    password_file: Option<&'a Path>,
}

/// The timeouts and retries `conn` asks for.
fn connection_options(conn: &ConnectArgs, opts: &mut migrate::Options) {
    opts.connect_timeout = Duration::from_secs(conn.connect_timeout.max(1));
    opts.command_timeout = Duration::from_secs(conn.timeout.max(1));
    opts.retry = Retry {
        retries: conn.retries,
        delay: Duration::from_millis(conn.retry_delay_ms),
    };
}

/// Both servers, users, passwords and TLS trust: from the URLs, the configuration, the
/// password file, the environment or a prompt. `need_password` is false where nothing
/// will be read (a refused configuration).
fn source_for(
    conn: &ConnectArgs,
    conf: &DovecotConf,
    version: DovecotVersion,
    account: Account<'_>,
    need_password: bool,
) -> anyhow::Result<Source> {
    let Account {
        imap,
        pop3,
        password_file,
    } = account;
    // The login user, for the configuration's `%u` / `%{user}`: the one a URL names.
    let login = [imap, pop3].into_iter().flatten().find_map(url::url_user);
    let mut targets = [conf.imap.clone(), conf.pop3.clone()];
    for (t, template) in targets.iter_mut().zip([&conf.imap_user, &conf.pop3_user]) {
        if let (Some(tpl), Some(login)) = (template, &login) {
            t.user = dovecot_conf::expand(tpl, login, version);
        } else if let Some(tpl) = template.as_ref().filter(|t| !t.contains('%')) {
            t.user = Some(tpl.clone());
        }
    }
    let [imap_target, pop3_target] = targets;
    let (ih, ip, iu, is) =
        endpoint(Proto::Imap, imap, &imap_target, conn.starttls).map_err(usage)?;
    let (ph, pp, pu, ps) =
        endpoint(Proto::Pop3, pop3, &pop3_target, conn.starttls).map_err(usage)?;
    warn_plain_text(Proto::Imap, &ih, is);
    warn_plain_text(Proto::Pop3, &ph, ps);
    let file = password_file.map(read_password_file).transpose()?;
    if let Some(at) = &conf.hidden
        && file.is_none()
        && need_password
        && [
            "UIDLMAP_IMAP_PASSWORD",
            "UIDLMAP_POP3_PASSWORD",
            "UIDLMAP_PASSWORD",
        ]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
    {
        return Err(anyhow!(
            "{at}: the password reads `# hidden, use -P to show it`: give the output of \
             `doveconf -n -P` (with -P), or --password-file"
        ));
    }
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
    trust.ca_files = conn.ca_file.clone();
    trust.insecure = conn.insecure;
    Ok(Source {
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
    })
}

/// The source and read options of `uidlmap record`: the connection settled exactly as
/// `verify` settles it (URLs, `--dovecot-conf`, passwords, TLS, timeouts, retries).
pub(super) fn settle_connection(conn: &ConnectArgs) -> anyhow::Result<(Source, migrate::Options)> {
    let conf = read_conf(conn)?;
    let version = conf
        .syntax
        .as_ref()
        .map(|(v, _)| *v)
        .or_else(installed_version)
        .unwrap_or(DovecotVersion::V2_4);
    let account = Account {
        imap: conn.imap.as_deref(),
        pop3: conn.pop3.as_deref(),
        password_file: conn.password_file.as_deref(),
    };
    let source = source_for(conn, &conf, version, account, true)?;
    let mut opts = migrate::Options::new(Default::default(), ImapcProfile::Docs.imapc(version));
    connection_options(conn, &mut opts);
    Ok((source, opts))
}

/// Warns (once per service and host) when a password would cross the network unencrypted:
/// no TLS and no STARTTLS, to a host other than this machine.
fn warn_plain_text(proto: Proto, host: &str, security: Security) {
    static WARNED: std::sync::Mutex<BTreeSet<(&'static str, String)>> =
        std::sync::Mutex::new(BTreeSet::new());
    if security != Security::Plain || is_loopback(host) {
        return;
    }
    let first = WARNED
        .lock()
        .map(|mut w| w.insert((proto.name(), host.to_string())))
        .unwrap_or(true);
    if first {
        eprintln!(
            "uidlmap: WARNING: the {} password for {host} would be sent as plain text (no TLS): use {}s:// or --starttls",
            proto.name(),
            match proto {
                Proto::Imap => "imap",
                Proto::Pop3 => "pop3",
            }
        );
    }
}

/// This machine: the password never leaves it.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
/// a protocol failure does (exit 76), saying which; `unknown` verdicts from ambiguous
/// content fail as a check (exit 1).
pub(super) fn verdict(v: &Verified) -> anyhow::Result<()> {
    let r = &v.report;
    let unknown = r.audit.as_ref().map_or(0, |a| a.counts.unknown);
    if !v.unread.is_empty() {
        // What was predicted is a Dovecot run that meets the same failure: not an
        // answer about the provider.
        return Err(marked(
            Exit::Protocol,
            anyhow!(
                "could not verify: {}; {unknown} UIDL verdict(s) unknown (the report assumes Dovecot meets the same failure)",
                v.unread.join("; ")
            ),
        ));
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

fn render(r: &Report, format: Format, rows: report::Rows) -> String {
    match format {
        Format::Human => report::human_with(r, rows),
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
pub(super) fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
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
    /// The POP3 listing failed: the error says it (typed where our client's error is
    /// behind it, for the exit code).
    #[error("{error}")]
    Pop3 {
        error: anyhow::Error,
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

    fn into_anyhow(self) -> anyhow::Error {
        match self {
            ReadError::Migrate(e) => anyhow::Error::new(e),
            ReadError::Pop3 { error, .. } => error,
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
            let text = format!(
                "POP3 server {}:{}: {line}",
                source.pop3.host, source.pop3.port
            );
            let error = match &m.pop3_failure {
                Some(cause) => Worded {
                    text,
                    cause: cause.clone(),
                }
                .into(),
                None => marked(Exit::Protocol, anyhow!(text)),
            };
            return Err(ReadError::Pop3 {
                error,
                temporary: m.pop3_temporary,
            });
        }
    }
    Ok(m)
}

/// Reads the source and builds the report (without reading anything where the version
/// refuses the configuration).
pub(super) async fn verify(plan: &Plan) -> anyhow::Result<Verified> {
    if let Some(e) = &plan.refusal {
        return Ok(Verified {
            report: refused_report(plan, e),
            unread: Vec::new(),
        });
    }
    let (source, opts) = (&plan.source, &plan.opts);
    // One retry budget for the whole read: a failed login or a connection dropped
    // later both cost the whole read, and the logins inside are not retried again
    // (that made (R+1)² attempts).
    let once = migrate::Options {
        retry: opts.retry.none(),
        ..opts.clone()
    };
    let retries = opts.retry.retries;
    let mut m = opts
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
        .map_err(ReadError::into_anyhow)?;
    let inputs = predict::Inputs {
        destination: plan.destination,
        version: plan.version,
        ..predict::Inputs::new(&opts.settings)
    };
    let unread = unread(&m, source);
    // The reads are freed once the prediction is made: with the report they were the
    // peak of a big mailbox's memory.
    let (reads, all) = m.take_reads();
    let p = predict::predict_with(&m, &reads, all.as_ref(), &inputs)?;
    drop((reads, all));
    let report = p.into_report(
        &format!("{}@{}", source.imap.user, source.imap.host),
        None,
        &opts.imapc.name(plan.version),
        &|_, _| None,
    );
    Ok(Verified { report, unread })
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    if args.conn.insecure {
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
        return Err(usage(anyhow!("--resume and --shard need --accounts")));
    }
    let plan = settle(args).map_err(bad_input)?;
    let show = io::IsTerminal::is_terminal(&io::stderr());
    let progress = plan.opts.progress.clone();
    let verified = runtime()?
        .block_on(async {
            if !show {
                return verify(&plan).await;
            }
            let ticker = progress::Ticker::start(None, "uidlmap: ".into(), progress);
            let r = verify(&plan).await;
            ticker.finish();
            r
        })
        .context("verification failed")?;
    write_out(args, &render(&verified.report, args.format, args.rows))?;
    verdict(&verified)
}

fn write_out(args: &VerifyArgs, out: &str) -> anyhow::Result<()> {
    match &args.output {
        Some(path) => write_atomically(path, out).map_err(|e| marked(Exit::IoErr, e)),
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// The prediction for a configuration the version refuses: doveadm stops before it
/// reads anything, so neither is anything read here.
fn refused_report(plan: &Plan, e: &ConfigError) -> Report {
    let outcome = uidlmap::matcher::Outcome::config_error(plan.opts.settings.clone(), e);
    let mut r = report::build(
        report::Heading {
            name: &format!("{}@{}", plan.source.imap.user, plan.source.imap.host),
            description: None,
            imapc: &plan.opts.imapc.name(plan.version),
            destination: plan.destination,
            version: plan.version,
        },
        &outcome,
        None,
        &|_, _| None,
    );
    r.setting_spellings = plan.opts.settings.misreadings(plan.version);
    r.mark_refused(&plan.opts.settings);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_doveadm_prints() {
        assert_eq!(
            version_of("2.3.19.1 (9b53102964)\n"),
            Some(DovecotVersion::V2_3)
        );
        assert_eq!(
            version_of("2.4.1-4 (7d8c0e5759)"),
            Some(DovecotVersion::V2_4)
        );
        assert_eq!(version_of("3.0.0"), None);
        assert_eq!(version_of(""), None);
    }
}
