//! The oracle: Dovecot's own pop3_migration plugin, run inside `doveadm backup -R imapc:`
//! against any IMAP + POP3 source, and what it stored, read back.
//!
//! The destination is a Maildir in a private directory. The result is read back with a
//! second configuration that has neither the plugin nor the pop3c namespace: with the
//! plugin loaded, `doveadm fetch pop3.uidl` would reach the POP3 server again and match
//! live instead of showing what was stored (spec §1).
//!
//! One oracle for both versions ([`OracleOptions::version`]): 2.4 runs as
//! `chroot ROOT doveadm … --no-userdb-lookup` with every file of the run inside ROOT, and
//! its configuration is written in 2.4's syntax ([`super::config`]); the log, rawlogs and
//! stored rows are read back the same way.
//!
//! What 2.3.19.1 does that a caller must know (all seen on this harness):
//! - exit 0 done, 75 temporary failure (the plugin refused INBOX), 134 abort (an IMAP
//!   login failure, including an untrusted certificate on imaps), 139 crash (an
//!   unreadable `ssl_client_ca_file`; we copy the CA where `nobody` can read it);
//! - pop3c with `pop3c_ssl = starttls` never gets past STLS: after the handshake it waits
//!   for a line the server never sends, then "Authentication timed out after 30 seconds"
//!   (exit 75). Implicit TLS (`pop3s`) works but now and then stalls waiting for the
//!   UIDL or LIST reply (2 to 8 runs in 20 here), until the run timeout kills doveadm;
//! - imapc with STARTTLS and an untrusted certificate reconnects in a tight loop
//!   (hundreds of STARTTLS per second) until killed: keep [`OracleOptions::timeout`] short;
//! - doveadm does not exit on SIGTERM while imapc waits; the timeout path ends with KILL
//!   (exit 137).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::config::{self, RunPaths};
use super::{
    DOVEADM_BIN, DovecotError, DovecotVersion, Ids, WorkDir, check_config_value, chown, exit_code,
    nobody, prepare_child, read_bounded, scrub, signal_group, wait_until,
};
use crate::domain::{Endpoint, ImapcProfile};
use crate::matcher::Settings;
use crate::secret::Secret;
use crate::tls::Security;

/// The local (destination) user name doveadm runs as; constant so logs do not depend on
/// the source account.
pub const LOCAL_USER: &str = "uidlmap";
/// The prefix of the hidden pop3c namespace, as in Dovecot's documentation.
pub const POP3C_PREFIX: &str = "POP3-MIGRATION-NS/";
/// Bound on each log or rawlog file read back.
const READ_LIMIT: u64 = 32 * 1024 * 1024;
/// Bound on the read-back `doveadm fetch`.
const READBACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct OracleOptions {
    /// Which Dovecot runs (2.3 on the host, 2.4 in its root).
    pub version: DovecotVersion,
    pub imap: Endpoint,
    pub pop3: Endpoint,
    /// The plugin's settings. An empty `mailbox` leaves `pop3_migration_mailbox` unset,
    /// which turns the plugin off (it stays loaded).
    pub settings: Settings,
    /// Plugin settings written exactly as given, `name = value` with no quoting (the
    /// name with or without `pop3_migration_`), after [`Self::settings`] and replacing a
    /// setting of the same name there: the admin's own spellings (`off`, `0`, an empty
    /// value) that the typed settings cannot express.
    pub raw_settings: Vec<(String, String)>,
    pub profile: ImapcProfile,
    /// Replaces the profile's imapc lines with these, verbatim: `Some(vec![])` leaves
    /// `imapc_features` and `mail_prefetch_count` unset (the version's own defaults);
    /// `imapc_features = rfc822.size fetch-headers` under 2.4 measures the old name.
    pub imapc_lines: Option<Vec<String>>,
    /// `imapc_cmd_timeout` (Dovecot's default is 5 min).
    pub imapc_cmd_timeout: Duration,
    /// The whole `doveadm backup`; past it doveadm's process group is killed.
    pub timeout: Duration,
    /// CA file for imapc/pop3c TLS (`ssl_client_ca_file`), e.g. [`super::DovecotSource::ca_file`].
    pub ca_file: Option<PathBuf>,
    /// The source location given to `backup -R`. `imapc:` keeps imapc's index in memory;
    /// `imapc:~/imapc` keeps it under the destination home, so with [`Self::workdir`] a
    /// second run sees the first run's cache (spec §7).
    pub imapc_location: String,
    /// Reuse this directory (destination Maildir, imapc index) and keep it afterwards
    /// (it is made mode 0755 so `nobody` can reach the home inside); default: a fresh
    /// private directory, removed after the run. Rawlogs are cleared at each run.
    /// For 2.4 it must be inside the root (e.g. under [`DovecotVersion::scratch_dir`]).
    pub workdir: Option<PathBuf>,
    /// Keep the fresh private directory after the run (for debugging).
    pub keep_workdir: bool,
    /// Raw lines appended to the destination configuration.
    pub extra_config: Vec<String>,
}

impl OracleOptions {
    /// Dovecot 2.3, the plugin on for `POP3-MIGRATION-NS/INBOX` with Dovecot's defaults,
    /// bare profile, `imapc_cmd_timeout = 10s`, a 60 s bound on the whole run.
    pub fn new(imap: Endpoint, pop3: Endpoint) -> Self {
        OracleOptions {
            version: DovecotVersion::V2_3,
            imap,
            pop3,
            settings: Settings::enabled(),
            raw_settings: Vec::new(),
            profile: ImapcProfile::Bare,
            imapc_lines: None,
            imapc_cmd_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            ca_file: None,
            imapc_location: "imapc:".into(),
            workdir: None,
            keep_workdir: false,
            extra_config: Vec::new(),
        }
    }

    /// Both sides from one account (same host, user and password).
    pub fn same_account(
        host: &str,
        imap_port: u16,
        pop3_port: u16,
        user: &str,
        password: Secret,
    ) -> Self {
        let ep = |port| Endpoint {
            host: host.to_string(),
            port,
            user: user.to_string(),
            password: password.clone(),
            security: Security::Plain,
        };
        Self::new(ep(imap_port), ep(pop3_port))
    }
}

/// What the destination holds for one message after the run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoredMessage {
    pub mailbox: String,
    pub uid: u32,
    /// Empty when none was stored.
    pub pop3_uidl: String,
    /// 0 when none was stored.
    pub pop3_order: u32,
    /// The `Message-ID` header's value as Dovecot returns it ("" if absent).
    pub message_id: String,
    /// The `Subject` header's value as Dovecot returns it ("" if absent).
    pub subject: String,
}

/// One client's rawlog: the lines it sent and the lines it received, timestamps removed,
/// passwords replaced by `***`. Several connections are concatenated in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rawlog {
    pub sent: Vec<String>,
    pub received: Vec<String>,
}

/// The plugin's own account of one mailbox, from its debug lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginSummary {
    pub mailbox: String,
    pub cached_uidls: u32,
    pub size_matches: u32,
    /// Dovecot's `total`: the smaller of the two message counts.
    pub total: u32,
    /// "N mails matched by headers": N is the POP3 total, not the number matched by
    /// headers (spec §5); `None` when the header pass did not run.
    pub matched_by_headers: Option<u32>,
}

/// The outcome of one `doveadm backup`.
#[derive(Clone, Debug)]
pub struct OracleRun {
    /// The version that ran.
    pub version: DovecotVersion,
    /// doveadm's exit code: 0 done, 75 temporary failure, 134 abort (2.3), 77 login
    /// failure (2.4), 89 configuration error (2.4); 128 + signal when killed (also after
    /// a timeout).
    pub exit_code: i32,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// Every line doveadm printed (stderr then stdout), the syslog-style timestamp
    /// removed, passwords replaced by `***`.
    pub log: Vec<String>,
    /// The plugin's lines (`pop3_migration:`), and every error, warning, fatal or panic.
    pub plugin_lines: Vec<String>,
    /// What the destination stored, by mailbox then UID.
    pub messages: Vec<StoredMessage>,
    pub imapc_rawlog: Rawlog,
    pub pop3c_rawlog: Rawlog,
    /// The directory, when kept (reused or `keep_workdir`).
    pub workdir: Option<PathBuf>,
}

impl OracleRun {
    /// The plugin's per-mailbox debug counters, in log order.
    pub fn summaries(&self) -> Vec<PluginSummary> {
        let mut out: Vec<PluginSummary> = Vec::new();
        for line in &self.log {
            let Some((mailbox, rest)) = plugin_line(line) else {
                continue;
            };
            if let Some(counts) = rest.strip_prefix("cached uidls=") {
                let nums: Vec<u32> = counts
                    .split(", ")
                    .filter_map(|p| p.rsplit('=').next()?.trim().parse().ok())
                    .collect();
                if let [cached, size, total] = nums[..] {
                    out.push(PluginSummary {
                        mailbox: mailbox.to_string(),
                        cached_uidls: cached,
                        size_matches: size,
                        total,
                        matched_by_headers: None,
                    });
                }
            } else if let Some(n) = rest
                .strip_suffix(" mails matched by headers")
                .and_then(|n| n.trim().parse().ok())
                && let Some(s) = out.iter_mut().rev().find(|s| s.mailbox == mailbox)
            {
                s.matched_by_headers = Some(n);
            }
        }
        out
    }

    /// The stored messages of one mailbox, by UID.
    pub fn mailbox(&self, name: &str) -> Vec<&StoredMessage> {
        self.messages.iter().filter(|m| m.mailbox == name).collect()
    }

    /// Whether any plugin line contains `needle`.
    pub fn plugin_says(&self, needle: &str) -> bool {
        self.plugin_lines.iter().any(|l| l.contains(needle))
    }
}

/// `Mailbox INBOX: pop3_migration: rest` → (`INBOX`, `rest`).
fn plugin_line(line: &str) -> Option<(&str, &str)> {
    let at = line.find("Mailbox ")?;
    let rest = &line[at + "Mailbox ".len()..];
    let (mailbox, rest) = rest.split_once(": pop3_migration: ")?;
    Some((mailbox, rest))
}

/// Runs `doveadm backup -R imapc:` with the plugin against the given source and reads
/// back what the destination stored. A failing migration is not an `Err`: its exit code
/// and log are in the [`OracleRun`]; `Err` means the harness itself could not run.
pub fn run_backup(opts: OracleOptions) -> Result<OracleRun, DovecotError> {
    let version = opts.version;
    if let Some(why) = version.unavailable_reason() {
        return Err(DovecotError::Unavailable(why));
    }
    validate(&opts)?;
    let mail_ids = nobody()?;
    let (wd, wd_str) = prepare_workdir(&opts, mail_ids)?;
    let inside = |host: &Path| inside_str(version, host);

    // Dovecot reads ssl_client_ca_file only after dropping to nobody, so a copy that
    // nobody can read goes into the work directory (an unreadable CA file makes doveadm
    // 2.3.19.1 crash with SIGSEGV after "No SSL context").
    let ca_copy = match &opts.ca_file {
        Some(ca) => {
            let pem =
                fs::read(ca).map_err(DovecotError::io(format!("reading {}", ca.display())))?;
            let copy = wd.join("ca.pem");
            super::write_file(&copy, &pem, 0o644)?;
            Some(copy)
        }
        None => None,
    };

    let paths = RunPaths {
        workdir: wd_str.clone(),
        ca_file: match &ca_copy {
            Some(p) => Some(inside(p)?),
            None => None,
        },
        mail_uid: mail_ids.uid,
        mail_gid: mail_ids.gid,
    };
    let dest_conf = wd.join("dest.conf");
    let read_conf = wd.join("readback.conf");
    super::write_file(
        &dest_conf,
        config::destination(&opts, &paths).as_bytes(),
        0o600,
    )?;
    super::write_file(
        &read_conf,
        config::readback(version, &paths).as_bytes(),
        0o600,
    )?;
    let (dest_inside, read_inside) = (inside(&dest_conf)?, inside(&read_conf)?);

    let secrets = [opts.imap.password.expose(), opts.pop3.password.expose()];
    let stdout_path = wd.join("backup.stdout");
    let stderr_path = wd.join("backup.stderr");
    let started = Instant::now();
    let mut args = vec!["-D", "-c", dest_inside.as_str(), "backup"];
    args.extend(no_userdb(version));
    args.extend(["-R", opts.imapc_location.as_str()]);
    let (status, timed_out) = run_doveadm(
        version,
        &wd,
        &wd_str,
        &args,
        &stdout_path,
        &stderr_path,
        opts.timeout,
    )?;
    let elapsed = started.elapsed();

    let (log, plugin_lines) = read_log([&stderr_path, &stdout_path], &secrets);

    let messages = read_back(version, &wd, &wd_str, &read_inside, &secrets)?;
    let imapc_rawlog = read_rawlog(&wd.join("rawlog/imapc"), &secrets);
    let pop3c_rawlog = read_rawlog(&wd.join("rawlog/pop3c"), &secrets);

    let kept = opts.workdir.is_some() || opts.keep_workdir;
    Ok(OracleRun {
        version,
        exit_code: exit_code(&status),
        timed_out,
        elapsed,
        log,
        plugin_lines,
        messages,
        imapc_rawlog,
        pop3c_rawlog,
        workdir: kept.then(|| wd.path().to_path_buf()),
    })
}

/// The run's directory, created (or reused) with its subdirectories, owned as Dovecot
/// needs them, and its path as doveadm sees it.
fn prepare_workdir(opts: &OracleOptions, mail_ids: Ids) -> Result<(WorkDir, String), DovecotError> {
    let version = opts.version;
    let mut wd = match &opts.workdir {
        Some(p) => WorkDir::reuse(p)?,
        // 2.3 keeps its old place (the system temp dir); 2.4 must see the directory.
        None => match version {
            DovecotVersion::V2_3 => WorkDir::create(None, "dovecot-oracle")?,
            DovecotVersion::V2_4 => {
                WorkDir::create(Some(&version.scratch_dir()), "dovecot-oracle")?
            }
        },
    };
    if opts.keep_workdir {
        wd.keep();
    }
    let wd_str = inside_str(version, wd.path())?;
    if wd_str.is_empty() || wd_str.contains([' ', '\t', '"', '\\']) {
        return Err(DovecotError::BadOption(format!(
            "the work directory {} must be a UTF-8 path without spaces, quotes or \\",
            wd.path().display()
        )));
    }
    for sub in ["home", "tmp", "state", "rawlog"] {
        fs::create_dir_all(wd.join(sub)).map_err(DovecotError::io(format!(
            "creating {sub} in {}",
            wd.path().display()
        )))?;
    }
    // Each run's rawlogs stand alone, even in a reused directory.
    for sub in ["rawlog/imapc", "rawlog/pop3c"] {
        let _ = fs::remove_dir_all(wd.join(sub));
        fs::create_dir(wd.join(sub)).map_err(DovecotError::io(format!(
            "creating {sub} in {}",
            wd.path().display()
        )))?;
    }
    for sub in ["home", "tmp", "rawlog/imapc", "rawlog/pop3c"] {
        chown(&wd.join(sub), mail_ids)?;
    }
    Ok((wd, wd_str))
}

/// A host path as doveadm of `version` sees it, as a string for a configuration file.
fn inside_str(version: DovecotVersion, host: &Path) -> Result<String, DovecotError> {
    let p = version.inside_path(host).ok_or_else(|| {
        DovecotError::BadOption(format!(
            "{} is outside the Dovecot {version} root {}",
            host.display(),
            version.root().unwrap_or_default().display()
        ))
    })?;
    Ok(p.to_str().unwrap_or_default().to_string())
}

/// doveadm's stderr then stdout as lines (times stripped, secrets scrubbed), and the
/// plugin's and every error, warning, fatal or panic line among them.
fn read_log(paths: [&Path; 2], secrets: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut log: Vec<String> = Vec::new();
    for path in paths {
        let text = scrub(&read_bounded(path, READ_LIMIT), secrets);
        log.extend(text.lines().map(|l| strip_syslog_time(l).to_string()));
    }
    let plugin_lines = log
        .iter()
        .filter(|l| {
            l.contains("pop3_migration: ")
                || ["Error:", "Warning:", "Fatal:", "Panic:"]
                    .iter()
                    .any(|lvl| l.contains(lvl))
        })
        .cloned()
        .collect();
    (log, plugin_lines)
}

fn validate(opts: &OracleOptions) -> Result<(), DovecotError> {
    for (side, ep) in [("imap", &opts.imap), ("pop3", &opts.pop3)] {
        check_config_value(&format!("the {side} host"), &ep.host)?;
        check_config_value(&format!("the {side} user"), &ep.user)?;
        check_config_value(&format!("the {side} password"), ep.password.expose())?;
        if ep.user.contains('%') {
            return Err(DovecotError::BadOption(format!(
                "the {side} user must not contain '%': imapc_user/pop3c_user are %-expanded"
            )));
        }
    }
    for (k, v) in opts.settings.dovecot_pairs() {
        check_config_value(&k, &v)?;
    }
    check_config_value("imapc_location", &opts.imapc_location)?;
    if !opts.imapc_location.starts_with("imapc:") {
        return Err(DovecotError::BadOption(format!(
            "imapc_location must start with 'imapc:', not {:?}",
            opts.imapc_location
        )));
    }
    if let Some(ca) = &opts.ca_file {
        check_config_value("ca_file", &ca.to_string_lossy())?;
    }
    for line in &opts.extra_config {
        check_config_value("an extra_config line", line)?;
    }
    for line in opts.imapc_lines.iter().flatten() {
        check_config_value("an imapc line", line)?;
    }
    for (k, v) in &opts.raw_settings {
        check_config_value(&format!("the raw setting {k}"), v)?;
        let short = k
            .trim()
            .strip_prefix(crate::matcher::settings::PREFIX)
            .unwrap_or(k.trim());
        if short.is_empty() || !short.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(DovecotError::BadOption(format!(
                "a raw setting name must be a pop3_migration_ name, not {k:?}"
            )));
        }
    }
    Ok(())
}

/// 2.4's doveadm insists on a userdb unless told there is none; 2.3's does not know the
/// option (the environment's `USER` and `HOME` stand in for the lookup).
fn no_userdb(version: DovecotVersion) -> Option<&'static str> {
    match version {
        DovecotVersion::V2_3 => None,
        DovecotVersion::V2_4 => Some("--no-userdb-lookup"),
    }
}

/// Runs doveadm (of `version`, so inside its root for 2.4) as [`LOCAL_USER`] with `HOME`
/// in the work directory (`wd_inside` is that directory as doveadm sees it); kills its
/// process group (TERM, then KILL) at `timeout`.
fn run_doveadm(
    version: DovecotVersion,
    wd: &WorkDir,
    wd_inside: &str,
    args: &[&str],
    stdout: &Path,
    stderr: &Path,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, bool), DovecotError> {
    let out = fs::File::create(stdout).map_err(DovecotError::io("creating doveadm's stdout"))?;
    let err = fs::File::create(stderr).map_err(DovecotError::io("creating doveadm's stderr"))?;
    let mut cmd = version.command(DOVEADM_BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("USER", LOCAL_USER)
        .env("HOME", format!("{wd_inside}/home"))
        .current_dir(wd.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    prepare_child(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(DovecotError::io(format!("starting {DOVEADM_BIN}")))?;
    let pid = child.id();
    let wait_err = DovecotError::io("waiting for doveadm");
    match wait_until(&mut child, Instant::now() + timeout) {
        Ok(Some(status)) => Ok((status, false)),
        Ok(None) => {
            signal_group(pid, libc::SIGTERM);
            let status = match wait_until(&mut child, Instant::now() + Duration::from_secs(1)) {
                Ok(Some(s)) => s,
                _ => {
                    signal_group(pid, libc::SIGKILL);
                    child.wait().map_err(wait_err)?
                }
            };
            Ok((status, true))
        }
        Err(e) => {
            signal_group(pid, libc::SIGKILL);
            let _ = child.wait();
            Err(wait_err(e))
        }
    }
}

/// Reads the stored UIDLs and orders with the plugin-free configuration.
fn read_back(
    version: DovecotVersion,
    wd: &WorkDir,
    wd_inside: &str,
    read_conf: &str,
    secrets: &[&str],
) -> Result<Vec<StoredMessage>, DovecotError> {
    let stdout = wd.join("readback.stdout");
    let stderr = wd.join("readback.stderr");
    let mut args = vec!["-f", "json", "-c", read_conf, "fetch"];
    args.extend(no_userdb(version));
    args.extend([
        "mailbox uid pop3.uidl pop3.order hdr.message-id hdr.subject",
        "all",
    ]);
    let (status, timed_out) = run_doveadm(
        version,
        wd,
        wd_inside,
        &args,
        &stdout,
        &stderr,
        READBACK_TIMEOUT,
    )?;
    let out = read_bounded(&stdout, READ_LIMIT);
    if timed_out || !status.success() {
        return Err(DovecotError::ReadBack {
            status: if timed_out {
                format!("timed out after {READBACK_TIMEOUT:?}")
            } else {
                status.to_string()
            },
            output: scrub(&read_bounded(&stderr, 64 * 1024), secrets),
        });
    }
    parse_fetch_json(&out).map_err(|e| DovecotError::ReadBack {
        status: status.to_string(),
        output: format!(
            "{e}; output starts with {:?}",
            out.chars().take(200).collect::<String>()
        ),
    })
}

/// Parses `doveadm -f json fetch` output: an array of objects whose values are strings.
fn parse_fetch_json(text: &str) -> Result<Vec<StoredMessage>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_str(text).map_err(|e| format!("not doveadm's JSON: {e}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |k: &str| -> String {
            match row.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            }
        };
        let uid = get("uid");
        let order = get("pop3.order");
        out.push(StoredMessage {
            mailbox: get("mailbox"),
            uid: uid.parse().map_err(|_| format!("bad uid {uid:?}"))?,
            pop3_uidl: get("pop3.uidl"),
            pop3_order: if order.is_empty() {
                0
            } else {
                order
                    .parse()
                    .map_err(|_| format!("bad pop3.order {order:?}"))?
            },
            message_id: get("hdr.message-id"),
            subject: get("hdr.subject"),
        });
    }
    out.sort();
    Ok(out)
}

/// Collects the `.out` (sent) and `.in` (received) rawlog files, connection by connection.
fn read_rawlog(dir: &Path, secrets: &[&str]) -> Rawlog {
    let mut files: Vec<(u64, String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // <date>-<time>.<pid>.<n>.in|out: order connections by n.
            let stem = name
                .strip_suffix(".in")
                .or_else(|| name.strip_suffix(".out"))?;
            let n = stem.rsplit('.').next()?.parse().ok()?;
            Some((n, name, e.path()))
        })
        .collect();
    files.sort();
    let mut log = Rawlog::default();
    for (_, name, path) in files {
        let text = scrub(&read_bounded(&path, READ_LIMIT), secrets);
        let lines = text.lines().map(|l| strip_rawlog_time(l).to_string());
        if name.ends_with(".out") {
            log.sent.extend(lines);
        } else {
            log.received.extend(lines);
        }
    }
    log
}

/// `1795883674.027341 1 LOGIN …` → `1 LOGIN …`.
fn strip_rawlog_time(line: &str) -> &str {
    match line.split_once(' ') {
        Some((ts, rest))
            if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            rest
        }
        _ => line,
    }
}

/// `Nov 28 16:34:34 dsync(alice): …` → `dsync(alice): …`.
fn strip_syslog_time(line: &str) -> &str {
    let b = line.as_bytes();
    let looks = b.len() > 16
        && b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && b[9] == b':'
        && b[12] == b':'
        && b[15] == b' ';
    if looks { &line[16..] } else { line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_times() {
        assert_eq!(
            strip_syslog_time("Nov 28 16:34:34 dsync(a): Debug: x"),
            "dsync(a): Debug: x"
        );
        assert_eq!(strip_syslog_time("Nov  2 06:04:04 x"), "x");
        assert_eq!(
            strip_syslog_time("Debug: Loading modules"),
            "Debug: Loading modules"
        );
        assert_eq!(strip_rawlog_time("1795883674.027341 1 LOGIN"), "1 LOGIN");
        assert_eq!(strip_rawlog_time("S: not a time"), "S: not a time");
    }

    #[test]
    fn parses_doveadm_json() {
        let json = r#"[{"mailbox":"INBOX","uid":"2","pop3.uidl":"b","pop3.order":"1","hdr.message-id":"<b@x>","hdr.subject":"B"},
                      {"mailbox":"INBOX","uid":"1","pop3.uidl":"","pop3.order":"","hdr.message-id":"<a@x>","hdr.subject":""}]"#;
        let got = parse_fetch_json(json).unwrap();
        assert_eq!(got[0].uid, 1);
        assert_eq!(got[0].pop3_order, 0);
        assert_eq!(got[0].pop3_uidl, "");
        assert_eq!(got[1].pop3_uidl, "b");
        assert_eq!(got[1].pop3_order, 1);
        assert_eq!(got[1].message_id, "<b@x>");
        assert!(parse_fetch_json("").unwrap().is_empty());
        assert!(parse_fetch_json("[{\"uid\":\"x\"}]").is_err());
    }

    #[test]
    fn summaries_from_log() {
        let run = OracleRun {
            version: DovecotVersion::V2_3,
            exit_code: 0,
            timed_out: false,
            elapsed: Duration::ZERO,
            log: vec![
                "dsync(u): Debug: Mailbox INBOX: pop3_migration: cached uidls=0, size matches=1, total=3".into(),
                "dsync(u): Debug: Mailbox INBOX: pop3_migration: 3 mails matched by headers".into(),
            ],
            plugin_lines: vec![],
            messages: vec![],
            imapc_rawlog: Rawlog::default(),
            pop3c_rawlog: Rawlog::default(),
            workdir: None,
        };
        assert_eq!(
            run.summaries(),
            vec![PluginSummary {
                mailbox: "INBOX".into(),
                cached_uidls: 0,
                size_matches: 1,
                total: 3,
                matched_by_headers: Some(3),
            }]
        );
    }

    #[test]
    fn rawlog_files_in_connection_order() {
        let dir = std::env::temp_dir().join(format!("uidlmap-rawlog-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let files = [
            ("20261128-163434.99.10.out", "1.5 USER bob\n1.6 PASS pw\n"),
            ("20261128-163434.99.2.out", "1.1 1 LOGIN \"bob\" \"pw\"\n"),
            ("20261128-163434.99.2.in", "1.2 * OK hi\n"),
            ("unrelated.txt", "x\n"),
        ];
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
        let log = read_rawlog(&dir, &["pw"]);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            log.sent,
            ["1 LOGIN \"bob\" \"***\"", "USER bob", "PASS ***"]
        );
        assert_eq!(log.received, ["* OK hi"]);
    }
}
