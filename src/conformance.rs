//! Conformance: every scenario run against real Dovecot (2.3.19.1 on the host, 2.4.1 in
//! its Debian 13 root) and compared with uidlmap's own prediction for the same scenario,
//! imapc profile and Dovecot version.
//!
//! One *case* is a scenario × one concrete imapc profile it is about
//! (`Scenario::imapc.concrete()`) × one Dovecot version asked for ([`Options::versions`];
//! every scenario runs under each, whatever its `dovecot:` says, since the reads and the
//! passes are the same). The plugin settings reach Dovecot as the scenario spells them
//! (`OracleOptions::raw_settings`), so each version reads `off` or `0` its own way. For
//! each case:
//! 1. uidlmap predicts ([`run::predict`]): its clients read a fresh copy of the scenario's
//!    world from the fake servers, and the matcher resolves what Dovecot stores;
//! 2. Dovecot runs ([`oracle::run_backup`]): `doveadm backup -R imapc:` with the
//!    pop3_migration plugin against another fresh copy of the same world, script and
//!    server knobs, with the scenario's plugin settings and that profile; what the
//!    destination stored is read back. A scenario with a UIDL `cache:` gets a first,
//!    seeding run whose POP3 side lists INBOX with the cached UIDLs, so that imapc's
//!    on-disk index holds them (`imapc:~/imapc` in a reused work directory); the
//!    destination's mail is then emptied and the real run follows (spec §7). The
//!    destination is the scenario's ([`Scenario::destination`]: maildir, sdbox, mdbox),
//!    written by Dovecot and read back with `doveadm fetch` in that format;
//! 3. the two are compared ([`compare`]), precisely:
//!    - **exit code**: doveadm's exit code equals the predicted one (0, 75, 134);
//!    - **stored messages**: the set of (mailbox, UID) the destination holds equals the
//!      set uidlmap's TSV lists ([`Report::stored`]), strictly; for each, the stored `pop3.uidl` and `pop3.order`
//!      (absent = empty / 0) are equal. uidlmap's `<maildir file name>` (an empty `P`
//!      field) agrees with a read-back UIDL that is a Maildir base file name
//!      (`<secs>.M<usecs>P<pid>.<host>,S=…`), which Dovecot then serves;
//!    - **plugin warnings and errors**: the `Warning:`/`Error:` lines containing
//!      `pop3_migration: ` on each side, normalised by [`normalise`], must be the same
//!      multiset (every line Dovecot logged is predicted, and nothing more);
//!    - **other predicted warnings and errors** (e.g. `POP3 UIDLs couldn't be synced`,
//!      `Remote didn't send mail UID=2`) must each appear in some Dovecot
//!      warning/error line. Dovecot's other lines (dsync's, imapc's) are not predicted
//!      and not compared;
//!    - **the plugin's counters**: each predicted `Debug: pop3_migration: …` line must
//!      appear in Dovecot's debug log, and each counter line Dovecot logged
//!      (`cached uidls=C, size matches=S, total=N`, `N mails matched by headers`) must be
//!      predicted.
//!
//! Scenarios are run concurrently with a bound ([`Options::jobs`]); each case uses its
//! own ports, work directory and world.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_servers::script::LogEntry;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::domain::{DovecotVersion, ImapcProfile, ProfileChoice};
use crate::dovecot::{self, oracle};
use crate::matcher::Settings;
use crate::report::{MAILDIR_FILE_NAME, Report};
use crate::scenario::{Scenario, run};
use crate::secret::Secret;
use crate::tls::Security;

/// How a conformance run is done.
#[derive(Clone, Debug)]
pub struct Options {
    /// Only the runs under these profiles (`both`: every profile each scenario is about).
    pub profile: ProfileChoice,
    /// The Dovecot versions each case runs under, oldest first.
    pub versions: Vec<DovecotVersion>,
    /// Cases run at once (each holds one doveadm process at most).
    pub jobs: usize,
    /// Bound on one doveadm backup.
    pub dovecot_timeout: Duration,
    /// Bound on one uidlmap prediction.
    pub predict_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: ProfileChoice::Both,
            versions: DovecotVersion::ALL.to_vec(),
            jobs: 2,
            dovecot_timeout: Duration::from_secs(45),
            predict_timeout: Duration::from_secs(30),
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// Dovecot did what uidlmap predicted.
    Agree,
    /// It did not: one line per difference.
    Disagree(Vec<String>),
    /// Not run, and why.
    Skipped(String),
    /// The harness itself failed (a fake server, the oracle, the prediction).
    Error(String),
}

/// One scenario × profile × Dovecot version.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub scenario: String,
    /// `docs` or `bare`.
    pub profile: &'static str,
    /// `maildir`, `sdbox` or `mdbox`.
    pub destination: &'static str,
    /// `2.3` or `2.4`.
    pub version: &'static str,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// doveadm's exit code, when it ran.
    pub dovecot_exit: Option<i32>,
    /// uidlmap's predicted exit code, when it predicted.
    pub predicted_exit: Option<i32>,
    /// Wall time of the case.
    pub millis: u64,
}

/// The concrete profiles of a scenario that a run with `filter` covers under
/// `version`: the scenario's own (under 2.4, `both` is docs, bare and 2.4's own
/// defaults), and under 2.4 its defaults for every scenario, since that is what
/// `uidlmap run --dovecot-version 2.4` without `--imapc-profile` predicts. `defaults`
/// asks for the version's defaults of every scenario.
pub fn profiles(
    sc: &Scenario,
    filter: ProfileChoice,
    version: DovecotVersion,
) -> Vec<ImapcProfile> {
    if filter == ProfileChoice::Defaults {
        return vec![ImapcProfile::Defaults];
    }
    let mut out: Vec<ImapcProfile> = sc
        .imapc
        .concrete_for(version)
        .iter()
        .copied()
        .filter(|p| filter == ProfileChoice::Both || filter.concrete_for(version).contains(p))
        .collect();
    if filter == ProfileChoice::Both
        && version == DovecotVersion::V2_4
        && !out.contains(&ImapcProfile::Defaults)
    {
        out.push(ImapcProfile::Defaults);
    }
    out
}

/// Why a scenario cannot be run under Dovecot, if it cannot.
/// Worlds larger than this are not compared: doveadm would outlast its timeout.
pub const MAX_CONFORMANCE_MESSAGES: usize = 2_000;

pub fn not_runnable(sc: &Scenario) -> Option<String> {
    if sc.knobs.pop3.stls {
        return Some(
            "pop3c STLS never completes in Dovecot 2.3.19.1 (it waits for a line after the \
             handshake; see dovecot::oracle)"
                .into(),
        );
    }
    if sc.cache.keys().any(|m| m != "INBOX") {
        return Some("a UIDL cache outside INBOX cannot be seeded through POP3".into());
    }
    let messages: usize = sc
        .world
        .imap
        .mailboxes
        .iter()
        .map(|m| m.messages.len())
        .sum();
    if messages > MAX_CONFORMANCE_MESSAGES {
        return Some(format!(
            "{messages} IMAP messages take doveadm longer than the harness waits; compare \
             a copy with a smaller bulk count (1,500 agree in about 11 s)"
        ));
    }
    None
}

/// Loads scenario files and folders (`scenarios/_fixtures` skipped), every file first:
/// the error lists every malformed file.
pub fn load(paths: &[std::path::PathBuf]) -> Result<Vec<Scenario>, String> {
    let files = crate::scenario::discover(paths).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for f in &files {
        match crate::scenario::load_file(f) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(format!("invalid scenario files:\n{}", errors.join("\n")))
    }
}

/// Runs every case of every scenario, `opts.jobs` at a time, in scenario order.
pub async fn check_all(scenarios: Vec<Scenario>, opts: &Options) -> Vec<Case> {
    let jobs = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut handles = Vec::new();
    for sc in scenarios {
        let sc = Arc::new(sc);
        for &version in &opts.versions {
            for profile in profiles(&sc, opts.profile, version) {
                let (sc, jobs, opts) = (sc.clone(), jobs.clone(), opts.clone());
                handles.push(tokio::spawn(async move {
                    let _permit = jobs.acquire_owned().await.expect("never closed");
                    check_case(&sc, profile, version, &opts).await
                }));
            }
        }
    }
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a conformance case panicked"));
    }
    out
}

/// Runs one case: uidlmap's prediction, then Dovecot, then [`compare`].
pub async fn check_case(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    opts: &Options,
) -> Case {
    judge_case(sc, profile, version, opts).await.case
}

/// One case with what its verdict was drawn from, for callers that judge more than the
/// verdict (the fault judge compares a faulted run with the fault-free one).
#[derive(Debug)]
pub struct Judged {
    pub case: Case,
    /// uidlmap's prediction, when it predicted.
    pub predicted: Option<Report>,
    /// Dovecot's run, when it ran.
    pub real: Option<oracle::OracleRun>,
    /// The commands Dovecot's run sent the fake servers, in arrival order (the real
    /// run's; a cache-seeding run before it is not included).
    pub transcript: Vec<LogEntry>,
}

/// [`check_case`], keeping the prediction, Dovecot's run and its transcript.
pub async fn judge_case(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    opts: &Options,
) -> Judged {
    let started = Instant::now();
    let mut j = Judged {
        case: Case {
            scenario: sc.name.clone(),
            profile: profile.name(),
            destination: sc.destination.name(),
            version: version.name(),
            verdict: Verdict::Agree,
            dovecot_exit: None,
            predicted_exit: None,
            millis: 0,
        },
        predicted: None,
        real: None,
        transcript: Vec::new(),
    };
    j.case.verdict = 'v: {
        if let Some(why) = version.unavailable_reason() {
            break 'v Verdict::Skipped(format!("Dovecot {} not usable: {why}", version.name()));
        }
        if let Some(why) = not_runnable(sc) {
            break 'v Verdict::Skipped(why);
        }
        let predicted = match run::predict(sc, profile, version, opts.predict_timeout).await {
            Ok(r) => r,
            Err(e) => break 'v Verdict::Error(format!("uidlmap's prediction: {e}")),
        };
        j.case.predicted_exit = Some(predicted.dovecot.exit_code);
        let (real, transcript) = match run_dovecot_traced(sc, profile, version, opts).await {
            Ok(r) => r,
            Err(e) => break 'v Verdict::Error(e),
        };
        j.case.dovecot_exit = Some(real.exit_code);
        j.transcript = transcript;
        let mut diffs = compare(&predicted, &real);
        if !diffs.is_empty() {
            // The context a reader needs to tell which side is wrong.
            for l in real.log.iter().filter(|l| is_problem(l)).take(20) {
                diffs.push(format!("(Dovecot logged: {l})"));
            }
            for l in predicted.dovecot.log.iter().filter(|l| is_problem(l)) {
                diffs.push(format!("(predicted: {l})"));
            }
        }
        j.predicted = Some(predicted);
        j.real = Some(real);
        if diffs.is_empty() {
            Verdict::Agree
        } else {
            Verdict::Disagree(diffs)
        }
    };
    j.case.millis = started.elapsed().as_millis() as u64;
    j
}

/// Serves `sc` (a fresh world and script) and runs doveadm against it.
async fn serve_and_backup(
    sc: &Scenario,
    settings: Settings,
    profile: ImapcProfile,
    version: DovecotVersion,
    opts: &Options,
    workdir: Option<std::path::PathBuf>,
) -> Result<(oracle::OracleRun, Vec<LogEntry>), String> {
    let ca = if run::needs_tls(sc) {
        Some(fake_servers::tls::TestCa::generate().map_err(|e| format!("test CA: {e}"))?)
    } else {
        None
    };
    let bind = || async {
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding a fake server: {e}"))
    };
    let (pop3_l, imap_l) = (bind().await?, bind().await?);
    let served =
        run::serve(sc, pop3_l, imap_l, ca).map_err(|e| format!("starting fake servers: {e}"))?;
    // The oracle copies the CA where `nobody` can read it; it only needs a readable path.
    let ca_file = match &served.ca {
        Some(ca) => {
            let f = tempfile::Builder::new()
                .prefix("uidlmap-conformance-ca")
                .tempfile()
                .map_err(|e| format!("writing the test CA: {e}"))?;
            fs::write(f.path(), &ca.ca_pem).map_err(|e| format!("writing the test CA: {e}"))?;
            Some(f)
        }
        None => None,
    };
    let password = Secret::new(sc.world.password.clone());
    let mut o = oracle::OracleOptions::same_account(
        "127.0.0.1",
        served.imap.port(),
        served.pop3.port(),
        &sc.world.user,
        password,
    );
    if sc.knobs.imap.starttls {
        o.imap.security = Security::StartTls;
    }
    o.version = version;
    // The admin's spellings, as written: each version reads them its own way.
    o.raw_settings = settings.spelled_pairs();
    o.settings = settings;
    o.profile = profile;
    // imapc's settings as the scenario writes them, on top of the version's defaults.
    o.imapc_lines = sc.imapc_written.as_ref().map(|w| w.lines());
    o.destination = sc.destination;
    o.timeout = opts.dovecot_timeout;
    o.ca_file = ca_file.as_ref().map(|f| f.path().to_path_buf());
    if let Some(d) = workdir {
        o.workdir = Some(d);
        o.imapc_location = "imapc:~/imapc".into();
    }
    let result = tokio::task::spawn_blocking(move || oracle::run_backup(o))
        .await
        .map_err(|e| format!("the oracle thread: {e}"))?;
    let transcript = served.script.log();
    served.stop().await;
    drop(ca_file);
    let run = result.map_err(|e| format!("running Dovecot: {e}"))?;
    Ok((run, transcript))
}

/// Dovecot's run of a case (a fresh world, the scenario's settings, that profile),
/// after seeding imapc's cache when the scenario has one. `Err` is a harness failure.
pub async fn run_dovecot(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    opts: &Options,
) -> Result<oracle::OracleRun, String> {
    Ok(run_dovecot_traced(sc, profile, version, opts).await?.0)
}

/// [`run_dovecot`], with the commands the run sent the fake servers.
pub async fn run_dovecot_traced(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    opts: &Options,
) -> Result<(oracle::OracleRun, Vec<LogEntry>), String> {
    if sc.cache.is_empty() {
        return serve_and_backup(sc, sc.settings.clone(), profile, version, opts, None).await;
    }
    // 2.4 reads and writes only inside its root.
    let dir = tempfile::Builder::new()
        .prefix("uidlmap-conformance-cache")
        .tempdir_in(version.scratch_dir())
        .map_err(|e| format!("making a work directory: {e}"))?;
    let seed = seeding_scenario(sc);
    let first = serve_and_backup(
        &seed,
        Settings::enabled(),
        profile,
        version,
        opts,
        Some(dir.path().to_path_buf()),
    )
    .await?
    .0;
    let got: BTreeMap<u32, String> = first
        .mailbox("INBOX")
        .iter()
        .map(|m| (m.uid, m.pop3_uidl.clone()))
        .collect();
    let want = sc.cache.get("INBOX").cloned().unwrap_or_default();
    if first.exit_code != 0 || want.iter().any(|(u, l)| got.get(u) != Some(l)) {
        return Err(format!(
            "seeding imapc's UIDL cache failed: exit {}, stored {got:?}, wanted {want:?}",
            first.exit_code
        ));
    }
    let mail = dovecot::config::destination_dir(sc.destination);
    fs::remove_dir_all(dir.path().join("home").join(mail))
        .map_err(|e| format!("emptying the seeded destination: {e}"))?;
    serve_and_backup(
        sc,
        sc.settings.clone(),
        profile,
        version,
        opts,
        Some(dir.path().to_path_buf()),
    )
    .await
}

/// The scenario of the seeding run: its IMAP side, and a POP3 side that lists INBOX's
/// cached messages under their cached UIDLs, in UID order; no faults, no events.
pub fn seeding_scenario(sc: &Scenario) -> Scenario {
    let mut seed = sc.clone();
    seed.rules.clear();
    seed.events.clear();
    let cache = sc.cache.get("INBOX");
    seed.world.pop3.messages = sc
        .world
        .imap
        .mailboxes
        .iter()
        .filter(|m| m.name == "INBOX")
        .flat_map(|mb| &mb.messages)
        .filter_map(|m| {
            let uidl = cache?.get(&m.uid)?;
            Some(fake_servers::world::Pop3Message::honest(
                m.id.clone(),
                uidl.clone(),
                m.full.clone(),
            ))
        })
        .collect();
    seed
}

/// A warning or error line reduced to what both sides can say alike: the level and the
/// text from `pop3_migration: ` on (Dovecot prefixes `doveadm(user): ` and
/// `Mailbox NAME: `), with
/// - `pop3c(HOST:PORT)` written `pop3c(HOST)` (the port is the fake server's);
/// - the detail after `Couldn't sync mailbox NAME: ` dropped (pop3c's own wording of
///   what went wrong, which uidlmap's client words differently);
/// - the reason after `Failed to get WHAT for msg N: ` dropped (the storage's wording).
///
/// `None` for lines that are not plugin warnings or errors.
pub fn normalise(line: &str) -> Option<String> {
    let level = ["Error:", "Warning:"]
        .into_iter()
        .find(|l| line.starts_with(l) || line.contains(&format!(": {l} ")))?;
    let at = line.find("pop3_migration: ")?;
    let mut text = line[at..].to_string();
    for marker in ["Couldn't sync mailbox ", "Failed to get "] {
        if let Some(i) = text.find(marker) {
            let after = i + marker.len();
            if let Some(j) = text[after..].find(": ") {
                text.truncate(after + j + 1);
                text.push_str(" …");
            }
        }
    }
    Some(format!("{level} {}", strip_ports(&text)))
}

/// `pop3c(127.0.0.1:4711)` → `pop3c(127.0.0.1)`.
fn strip_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("pop3c(") {
        let start = i + "pop3c(".len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(close) = rest.find(')') {
            let inside = &rest[..close];
            let host = match inside.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => inside,
            };
            out.push_str(host);
            rest = &rest[close..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether `s` is a Maildir base file name as Dovecot makes them:
/// `<secs>.M<usecs>P<pid>.<host>` with optional `,S=…,W=…`.
fn is_maildir_file_name(s: &str) -> bool {
    let mut parts = s.splitn(3, '.');
    let (Some(secs), Some(unique), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let unique_ok = unique
        .strip_prefix('M')
        .and_then(|u| u.split_once('P'))
        .is_some_and(|(us, pid)| digits(us) && digits(pid));
    digits(secs) && unique_ok && !host.is_empty()
}

/// One of the plugin's per-mailbox counter lines.
fn is_counter(line: &str) -> bool {
    line.contains("pop3_migration: cached uidls=")
        || (line.contains("pop3_migration: ") && line.ends_with(" mails matched by headers"))
}

/// A warning, error, fatal or panic line (either side's wording).
fn is_problem(line: &str) -> bool {
    ["Error: ", "Warning: ", "Fatal: ", "Panic: "]
        .iter()
        .any(|l| line.starts_with(l) || line.contains(&format!(": {l}")))
}

/// The differences between uidlmap's prediction and Dovecot's run; empty when they
/// agree. See the module documentation for what is compared and how.
pub fn compare(predicted: &Report, real: &oracle::OracleRun) -> Vec<String> {
    let mut diffs = Vec::new();
    if real.timed_out {
        diffs.push(format!(
            "doveadm did not finish within its time bound (killed after {:?})",
            real.elapsed
        ));
    }
    if predicted.dovecot.exit_code != real.exit_code {
        diffs.push(format!(
            "exit code: predicted {}, Dovecot {}",
            predicted.dovecot.exit_code, real.exit_code
        ));
    }

    // Stored messages.
    let mut want: BTreeMap<(String, u32), (String, u32)> = BTreeMap::new();
    // Exactly the rows the TSV lists.
    for (mb, m) in predicted.stored() {
        want.insert(
            (mb.name.clone(), m.uid),
            (m.uidl.clone().unwrap_or_default(), m.order.unwrap_or(0)),
        );
    }
    let got: BTreeMap<(String, u32), (String, u32)> = real
        .messages
        .iter()
        .map(|m| {
            (
                (m.mailbox.clone(), m.uid),
                (m.pop3_uidl.clone(), m.pop3_order),
            )
        })
        .collect();
    for (key, w) in &want {
        let (mb, uid) = key;
        match got.get(key) {
            None => diffs.push(format!(
                "{mb} UID {uid}: predicted stored (UIDL {:?}, order {}), Dovecot did not store it",
                w.0, w.1
            )),
            Some(g) => {
                let uidl_ok =
                    g.0 == w.0 || (w.0 == MAILDIR_FILE_NAME && is_maildir_file_name(&g.0));
                if !uidl_ok || g.1 != w.1 {
                    diffs.push(format!(
                        "{mb} UID {uid}: predicted UIDL {:?} order {}, Dovecot stored UIDL {:?} order {}",
                        w.0, w.1, g.0, g.1
                    ));
                }
            }
        }
    }
    for (key, g) in &got {
        if !want.contains_key(key) {
            diffs.push(format!(
                "{} UID {}: Dovecot stored it (UIDL {:?}, order {}), predicted not stored",
                key.0, key.1, g.0, g.1
            ));
        }
    }

    // Plugin warnings and errors: the same multiset on both sides.
    let mut real_plugin: Vec<String> = real.log.iter().filter_map(|l| normalise(l)).collect();
    let mut missing = Vec::new();
    for line in predicted.dovecot.log.iter().filter_map(|l| normalise(l)) {
        match real_plugin.iter().position(|r| *r == line) {
            Some(i) => {
                real_plugin.remove(i);
            }
            None => missing.push(line),
        }
    }
    for line in missing {
        diffs.push(format!("predicted, Dovecot did not log: {line}"));
    }
    for line in real_plugin {
        diffs.push(format!("Dovecot logged, not predicted: {line}"));
    }

    // The plugin's counters Dovecot logged must all be predicted.
    for line in real.log.iter().filter(|l| is_counter(l)) {
        let at = line.find("pop3_migration: ").unwrap_or(0);
        let text = &line[at..];
        if !predicted
            .dovecot
            .log
            .iter()
            .any(|p| p.strip_prefix("Debug: ") == Some(text))
        {
            diffs.push(format!("Dovecot logged, not predicted: Debug: {text}"));
        }
    }

    // Other predicted problems, and the plugin's counters.
    let real_problems: Vec<&String> = real.log.iter().filter(|l| is_problem(l)).collect();
    for line in &predicted.dovecot.log {
        if normalise(line).is_some() {
            continue;
        }
        if let Some(text) = line
            .strip_prefix("Error: ")
            .or_else(|| line.strip_prefix("Warning: "))
        {
            if !real_problems.iter().any(|r| r.contains(text)) {
                diffs.push(format!("predicted, Dovecot did not log: {line}"));
            }
        } else if let Some(text) = line.strip_prefix("Debug: ")
            && text.starts_with("pop3_migration: ")
            && !real.log.iter().any(|r| r.ends_with(text))
        {
            diffs.push(format!("predicted, Dovecot did not log: {line}"));
        }
    }
    diffs
}

/// Counts of each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub agree: usize,
    pub disagree: usize,
    pub skipped: usize,
    pub error: usize,
}

pub fn counts(cases: &[Case]) -> Counts {
    let mut c = Counts::default();
    for case in cases {
        match case.verdict {
            Verdict::Agree => c.agree += 1,
            Verdict::Disagree(_) => c.disagree += 1,
            Verdict::Skipped(_) => c.skipped += 1,
            Verdict::Error(_) => c.error += 1,
        }
    }
    c
}

/// One line per case, the differences indented below, then the counts.
pub fn summary(cases: &[Case]) -> String {
    let mut out = String::new();
    for c in cases {
        let (word, detail): (&str, Vec<String>) = match &c.verdict {
            Verdict::Agree => ("agree", vec![]),
            Verdict::Disagree(d) => ("DISAGREE", d.clone()),
            Verdict::Skipped(why) => ("skipped", vec![why.clone()]),
            Verdict::Error(e) => ("ERROR", vec![e.clone()]),
        };
        out.push_str(&format!(
            "{word:<9} {:<55} {} {:<4} {:<7} {:>6} ms\n",
            c.scenario, c.version, c.profile, c.destination, c.millis
        ));
        for d in detail {
            out.push_str(&format!("          {d}\n"));
        }
    }
    let n = counts(cases);
    out.push_str(&format!(
        "{} cases: {} agree, {} disagree, {} skipped, {} errors\n",
        cases.len(),
        n.agree,
        n.disagree,
        n.skipped,
        n.error
    ));
    out
}

/// A markdown table, one row per scenario, one column per Dovecot version and profile
/// run. Deterministic: no timings.
pub fn table(cases: &[Case]) -> String {
    let mut columns: Vec<(&str, &str)> = Vec::new();
    for v in DovecotVersion::ALL {
        if cases.iter().any(|c| c.version == v.name()) {
            columns.extend(ImapcProfile::ALL.iter().map(|p| (v.name(), p.name())));
            // The version's own defaults, where any case ran them.
            let defaults = ImapcProfile::Defaults.name();
            if cases
                .iter()
                .any(|c| c.version == v.name() && c.profile == defaults)
            {
                columns.push((v.name(), defaults));
            }
        }
    }
    let mut rows: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in cases {
        let cell = match c.verdict {
            Verdict::Agree => "agree",
            Verdict::Disagree(_) => "**disagree**",
            Verdict::Skipped(_) => "skipped",
            Verdict::Error(_) => "**error**",
        };
        let row = rows
            .entry(c.scenario.as_str())
            .or_insert_with(|| vec!["–"; columns.len()]);
        if let Some(i) = columns.iter().position(|&k| k == (c.version, c.profile)) {
            row[i] = cell;
        }
    }
    let n = counts(cases);
    let mut out = String::from("| scenario |");
    for (v, p) in &columns {
        out.push_str(&format!(" {v} {p} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for (name, cells) in rows {
        out.push_str(&format!("| `{name}` | {} |\n", cells.join(" | ")));
    }
    out.push_str(&format!(
        "\n{} runs: {} agree, {} disagree, {} skipped, {} errors (– : the scenario is not about that profile).\n",
        cases.len(),
        n.agree,
        n.disagree,
        n.skipped,
        n.error
    ));
    out
}

/// The version of the installed Dovecot (`dovecot --version`'s first word), if any.
/// uidlmap models 2.3.19.1; another version may legitimately disagree.
pub fn dovecot_version() -> Option<String> {
    let out = std::process::Command::new(dovecot::DOVECOT_BIN)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().map(str::to_string)
}

/// Every case and the counts, as JSON.
pub fn json(cases: &[Case]) -> String {
    let versions: BTreeMap<&str, Option<String>> = DovecotVersion::ALL
        .iter()
        .filter(|v| cases.iter().any(|c| c.version == v.name()))
        .map(|v| (v.name(), v.installed().ok()))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "dovecot": versions,
        "counts": counts(cases),
        "cases": cases,
    }))
    .expect("cases serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_reduces_dovecot_and_uidlmap_lines_alike() {
        // As logged by Dovecot 2.3.19.1 and predicted, for faults/in-use.
        let dovecot = "dsync(uidlmap): Error: pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: Mailbox is locked by another POP3 session";
        let ours = "Error: pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: pop3c(127.0.0.1): PASS ***: the server replied \"-ERR [IN-USE] Mailbox is locked by another POP3 session\"";
        assert_eq!(normalise(dovecot), normalise(ours));
        assert_eq!(
            normalise(ours).unwrap(),
            "Error: pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: …"
        );
        assert_eq!(
            normalise("Warning: pop3_migration: UIDL for msg 1 is empty").unwrap(),
            "Warning: pop3_migration: UIDL for msg 1 is empty"
        );
        assert_eq!(
            normalise(
                "doveadm(x): Warning: Mailbox INBOX: pop3_migration: UIDL for msg 1 is empty"
            ),
            normalise("Warning: pop3_migration: UIDL for msg 1 is empty")
        );
        assert_eq!(
            normalise("Debug: pop3_migration: 3 mails matched by headers"),
            None
        );
        assert_eq!(normalise("Error: POP3 UIDLs couldn't be synced"), None);
        assert_ne!(
            normalise(
                "Error: pop3_migration: 1 POP3 messages have no matching IMAP messages (first POP3 msg 2 UIDL a)"
            ),
            normalise(
                "Error: pop3_migration: 1 POP3 messages have no matching IMAP messages (first POP3 msg 2 UIDL b)"
            )
        );
        assert_ne!(
            normalise("Warning: pop3_migration: UIDL for msg 1 is empty"),
            normalise("Error: pop3_migration: UIDL for msg 1 is empty")
        );
    }

    #[test]
    fn ports_only_are_stripped() {
        assert_eq!(
            strip_ports("pop3c(127.0.0.1:995): x"),
            "pop3c(127.0.0.1): x"
        );
        assert_eq!(strip_ports("pop3c(host): x"), "pop3c(host): x");
        assert_eq!(strip_ports("no client"), "no client");
    }

    #[test]
    fn maildir_file_names() {
        assert!(is_maildir_file_name(
            "1795885967.M457707P23391.vm,S=1081,W=1100"
        ));
        assert!(is_maildir_file_name("1795885967.M457707P23391.host"));
        assert!(!is_maildir_file_name("m1"));
        assert!(!is_maildir_file_name("1.2.3"));
        assert!(!is_maildir_file_name("UID4-1"));
    }
}
