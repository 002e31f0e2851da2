//! Running a scenario end to end: serve its world with the fake servers on 127.0.0.1,
//! read it the way Dovecot does through our own clients ([`crate::migrate`]), resolve
//! Dovecot's answer, audit it against the scenario's ground truth, and check the
//! scenario's expectations.
//!
//! A scenario whose `imapc` is `both` runs once per imapc profile (under 2.4 its own
//! defaults too: a third batching); the predictions must agree (what Dovecot stores,
//! its exit code and its warnings and errors), or the scenario must say which profile
//! it is about. Reads are made once per imapc configuration (2.3's `defaults` are
//! `bare`'s). Each read is predicted for every
//! Dovecot version the scenario is about (`dovecot:`), each against its own
//! expectations; versions whose answers differ are all shown in the report.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use fake_servers::imap::ImapOptions;
use fake_servers::pop3::Pop3Options;
use fake_servers::tls::TestCa;
use fake_servers::{FakeServers, Script, Servers, SharedWorld};
use tokio::net::TcpListener;

use super::{Scenario, ServerKnobs, Truth};
use crate::domain::{DovecotVersion, Endpoint, Imapc, ImapcProfile};
use crate::matcher;
use crate::matcher::audit::{self, Audit, Expected};
use crate::matcher::settings::ConfigError;
use crate::migrate::{self, MigrateError, Migration, Source};
use crate::predict;
use crate::report::{self, Expectation, Report};
use crate::secret::Secret;
use crate::tls::{Security, Trust};

/// Failures of the harness itself (not of the modelled migration).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("starting the fake servers: {0}")]
    Serve(#[from] std::io::Error),
    #[error("making the test CA: {0}")]
    Ca(#[from] fake_servers::tls::TlsError),
    #[error("resolving Dovecot's answer: {0}")]
    Resolve(#[from] matcher::ResolveError),
    #[error("the run took longer than {0:?}")]
    Timeout(Duration),
}

/// The fake servers of one run, stopped on drop.
pub struct Served {
    pub pop3: SocketAddr,
    pub imap: SocketAddr,
    pub world: SharedWorld,
    pub script: Script,
    pub ca: Option<TestCa>,
    servers: FakeServers,
}

impl Served {
    /// Stops both servers and waits for their sessions to end.
    pub async fn stop(self) {
        self.servers.stop().await;
    }
}

/// The fake servers' options for a scenario's knobs (see [`ServerKnobs::options`]).
pub fn server_options(knobs: &ServerKnobs, ca: Option<&TestCa>) -> (Pop3Options, ImapOptions) {
    knobs.options(ca)
}

/// Serves a scenario's world on the given listeners until [`Served::stop`].
pub fn serve(
    sc: &Scenario,
    pop3_listener: TcpListener,
    imap_listener: TcpListener,
    ca: Option<TestCa>,
) -> std::io::Result<Served> {
    let (pop3_opts, imap_opts) = server_options(&sc.knobs, ca.as_ref());
    let mut servers = Servers::shared(sc.shared_world())
        .script(sc.script())
        .pop3_options(pop3_opts)
        .imap_options(imap_opts)
        .listeners(pop3_listener, imap_listener);
    if let Some(ca) = &ca {
        servers = servers.ca(ca.clone());
    }
    let servers = servers.start().map_err(std::io::Error::other)?;
    Ok(Served {
        pop3: servers.pop3(),
        imap: servers.imap(),
        world: servers.world().clone(),
        script: servers.script().clone(),
        ca,
        servers,
    })
}

/// Whether a scenario needs the test CA (STLS or STARTTLS knobs).
pub fn needs_tls(sc: &Scenario) -> bool {
    sc.knobs.pop3.stls || sc.knobs.imap.starttls
}

/// The ground truth as the audit wants it: per IMAP message listed, the POP3 message
/// (UIDL and number in the listing Dovecot read) that is the same message, or `Gone`
/// when the message left the IMAP server during the run (dsync never copies it).
fn audit_truth<'a>(sc: &'a Scenario, after: &'a Truth, m: &'a Migration) -> audit::Truth {
    // POP3 numbers by identity: the listing Dovecot read is the world's POP3 view at
    // login, so identities come from the truth whose UIDL sits at that number (the
    // initial world, or the world after the run for messages delivered meanwhile).
    let mut number_of: BTreeMap<&str, (u32, &str)> = BTreeMap::new();
    for p in &m.listing.pop3 {
        let at = |t: &'a Truth| {
            let hit = |e: &&'a crate::scenario::Pop3Truth| e.number == p.number && e.uidl == p.uidl;
            // Entries are in number order, so look where the number says first: a scan
            // per message would make a 10,000-message run quadratic.
            (p.number as usize)
                .checked_sub(1)
                .and_then(|i| t.pop3.get(i))
                .filter(hit)
                .or_else(|| t.pop3.iter().find(hit))
                .map(|e| e.id.as_str())
        };
        if let Some(id) = at(&sc.truth).or_else(|| at(after)) {
            number_of.entry(id).or_insert((p.number, p.uidl.as_str()));
        }
    }
    let mut truth = audit::Truth::new();
    for mb in &m.listing.imap {
        for msg in &mb.messages {
            let still_there = after
                .imap
                .get(&mb.name)
                .is_some_and(|u| u.contains_key(&msg.uid));
            let expected = match id_of(sc, after, &mb.name, msg.uid) {
                _ if !still_there => Expected::Gone,
                None => Expected::Unknown,
                Some(id) => match number_of.get(id.as_str()) {
                    Some((number, uidl)) if !uidl.is_empty() => Expected::Pop3 {
                        uidl: uidl.to_string(),
                        number: *number,
                    },
                    _ => Expected::None,
                },
            };
            truth.insert((mb.name.clone(), msg.uid), expected);
        }
    }
    truth
}

/// The message behind (mailbox, UID): from the initial world, or for messages
/// delivered during the run, from the world after it.
fn id_of(sc: &Scenario, after: &Truth, mailbox: &str, uid: u32) -> Option<String> {
    sc.truth
        .imap
        .get(mailbox)
        .and_then(|u| u.get(&uid))
        .or_else(|| after.imap.get(mailbox).and_then(|u| u.get(&uid)))
        .cloned()
}

/// One profile's run, before reporting.
struct ProfileRun {
    migration: Result<Migration, MigrateError>,
    /// Listed IMAP messages gone from the server by the end of the run: dsync's own
    /// download of them fails.
    vanished: Vec<(String, u32)>,
    truth: audit::Truth,
    ids: BTreeMap<(String, u32), String>,
}

async fn run_profile(sc: &Scenario, imapc: Imapc) -> Result<ProfileRun, RunError> {
    let ca = if needs_tls(sc) {
        Some(TestCa::generate()?)
    } else {
        None
    };
    let local = ([127, 0, 0, 1], 0).into();
    let pop3_l = fake_servers::servers::bind(local)?;
    let imap_l = fake_servers::servers::bind(local)?;
    let served = serve(sc, pop3_l, imap_l, ca)?;
    let trust = match &served.ca {
        Some(ca) => Trust::only(ca.ca_der.clone()),
        None => Trust::default(),
    };
    let endpoint = |addr: SocketAddr, starttls: bool| Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: if starttls {
            Security::StartTls
        } else {
            Security::Plain
        },
        user: sc.world.user.clone(),
        password: Secret::new(sc.world.password.clone()),
    };
    let source = Source {
        imap: endpoint(served.imap, sc.knobs.imap.starttls),
        pop3: endpoint(served.pop3, sc.knobs.pop3.stls),
        trust,
    };
    let mut opts = migrate::Options::new(sc.settings.clone(), imapc);
    // Scenario servers answer at once; a stuck exchange is a bug, not a slow network.
    opts.command_timeout = Duration::from_secs(10);
    opts.connect_timeout = Duration::from_secs(5);
    opts.download = sc.rules.iter().any(|r| meets_download(&r.on));
    for (mailbox, uids) in &sc.cache {
        for (uid, uidl) in uids {
            opts.cache.insert((mailbox.clone(), *uid), uidl.clone());
        }
    }
    let migration = migrate::dovecot_order(&source, &opts).await;
    let world = served.world.clone();
    served.stop().await;
    let mut vanished = Vec::new();
    let (truth, ids) = match &migration {
        Ok(m) => {
            let after = Truth::of_world(&world.snapshot());
            for mb in &m.listing.imap {
                for msg in &mb.messages {
                    if !after
                        .imap
                        .get(&mb.name)
                        .is_some_and(|u| u.contains_key(&msg.uid))
                    {
                        vanished.push((mb.name.clone(), msg.uid));
                    }
                }
            }
            let truth = audit_truth(sc, &after, m);
            let mut ids = BTreeMap::new();
            for mb in &m.listing.imap {
                for msg in &mb.messages {
                    if let Some(id) = id_of(sc, &after, &mb.name, msg.uid) {
                        ids.insert((mb.name.clone(), msg.uid), id);
                    }
                }
            }
            (truth, ids)
        }
        Err(_) => (audit::Truth::new(), BTreeMap::new()),
    };
    Ok(ProfileRun {
        migration,
        vanished,
        truth,
        ids,
    })
}

/// Whether a fault rule could change the reply to dsync's own download of a mailbox
/// (`UID FETCH <set> (INTERNALDATE BODY.PEEK[])`): the read then sends it too
/// ([`migrate::Options::download`]).
fn meets_download(on: &fake_servers::script::CommandMatch) -> bool {
    const DOWNLOAD: &str = "UID FETCH 1 (INTERNALDATE BODY.PEEK[])";
    let upper = |t: &str| t.to_ascii_uppercase();
    on.protocol != Some(fake_servers::script::Protocol::Pop3)
        && on
            .prefix
            .as_deref()
            .is_none_or(|p| DOWNLOAD.starts_with(&upper(p)) || upper(p).starts_with("UID FETCH "))
        && on
            .contains
            .as_deref()
            .is_none_or(|c| "(INTERNALDATE BODY.PEEK[])".contains(&upper(c)))
}

/// What one profile's run amounts to, for comparison between profiles.
#[derive(PartialEq, Eq)]
struct Stored {
    exit: i32,
    lines: Vec<(String, u32, Option<String>, Option<u32>)>,
    problems: Vec<String>,
}

fn stored(r: &Report) -> Stored {
    Stored {
        exit: r.dovecot.exit_code,
        lines: r
            .dovecot
            .mailboxes
            .iter()
            .flat_map(|mb| {
                mb.messages
                    .iter()
                    .map(|m| (mb.name.clone(), m.uid, m.uidl.clone(), m.order))
            })
            .collect(),
        problems: r
            .dovecot
            .log
            .iter()
            .filter(|l| !l.starts_with("Debug:"))
            .cloned()
            .collect(),
    }
}

/// `text` without the fake servers' ports (`127.0.0.1:41234` → `127.0.0.1`), which
/// change every run: reports are deterministic.
fn without_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(HOST) {
        out.push_str(&rest[..i + HOST.len() - 1]);
        rest = rest[i + HOST.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// The report of a run whose IMAP side failed before the plugin could start.
fn imap_failure_report(
    sc: &Scenario,
    imapc: &str,
    version: DovecotVersion,
    err: &MigrateError,
) -> Report {
    let is_login = err.is_imap_login();
    let dovecot = err.dovecot_line(version);
    let step_exit = match err {
        MigrateError::ImapStep { step, source, .. } => step.exit(Some(source), version),
        _ => 75,
    };
    let err = without_ports(&err.to_string());
    // doveadm 2.3.19 panics after an IMAP login failure (interop note: exit 134);
    // 2.4.1 exits 77 (docs/dovecot-versions.md, "Login failures").
    let (exit, result) = if is_login {
        let exit = version.login_failure_exit();
        let how = match version {
            DovecotVersion::V2_3 => "doveadm 2.3.19 aborts",
            DovecotVersion::V2_4 => "doveadm 2.4 stops, nothing stored",
        };
        (
            exit,
            format!("imapc login failed; {how} (exit {exit}): {err}"),
        )
    } else {
        let why = dovecot.as_deref().unwrap_or(&err);
        (
            step_exit,
            format!("imapc failed; nothing is migrated (exit {step_exit}): {why}"),
        )
    };
    Report {
        name: sc.name.clone(),
        description: Some(sc.description.clone()),
        settings: sc.settings.dovecot_pairs().into_iter().collect(),
        imapc: imapc.to_string(),
        destination: sc.destination.name().to_string(),
        dovecot_version: version.name().to_string(),
        setting_spellings: sc.settings.misreadings(version),
        dovecot: report::DovecotReport {
            exit_code: exit,
            result,
            mailboxes: Vec::new(),
            log: vec![
                match (err.split_once(": NO ").filter(|_| is_login), &dovecot) {
                    // imapc's own words, which both versions log (measured).
                    (Some((_, why)), _) => format!("Error: Authentication failed: {why}"),
                    // dsync's or the plugin's words for the step (migrate::recovery).
                    (None, Some(line)) => format!("Error: {line}"),
                    (None, None) => format!("Error: {err}"),
                },
            ],
        },
        pop3: None,
        audit: None,
        traffic: None,
        expectation: None,
        other_versions: Vec::new(),
    }
}

fn profile_report(
    sc: &Scenario,
    imapc: &str,
    version: DovecotVersion,
    run: &ProfileRun,
) -> Result<(Report, Option<Audit>), RunError> {
    let m = match &run.migration {
        Ok(m) => m,
        // A refused configuration stops doveadm before it logs in anywhere.
        Err(_) if let Err(e) = sc.settings.for_version(version) => {
            return Ok((config_error_report(sc, imapc, version, &e), None));
        }
        Err(e) => return Ok((imap_failure_report(sc, imapc, version, e), None)),
    };
    let inputs = predict::Inputs {
        truth: Some(&run.truth),
        vanished: &run.vanished,
        destination: sc.destination,
        version,
        ..predict::Inputs::new(&sc.settings)
    };
    let p = predict::predict(m, &inputs)?;
    let ids = |mb: &str, uid: u32| run.ids.get(&(mb.to_string(), uid)).cloned();
    let r = p.report(&sc.name, Some(&sc.description), imapc, &ids);
    let audit = p.audit;
    Ok((r, audit))
}

/// The report of a configuration `version` refuses (`e`): doveadm never connects, so
/// nothing read matters.
fn config_error_report(
    sc: &Scenario,
    imapc: &str,
    version: DovecotVersion,
    e: &ConfigError,
) -> Report {
    let outcome = matcher::Outcome::config_error(sc.settings.clone(), e);
    let mut r = report::build(
        report::Heading {
            name: &sc.name,
            description: Some(&sc.description),
            imapc,
            destination: sc.destination,
            version,
        },
        &outcome,
        None,
        &|_, _| None,
    );
    r.setting_spellings = sc.settings.misreadings(version);
    r.mark_refused(&sc.settings);
    r
}

/// The report of one profile under one version: refused before anything is read
/// when the settings or the written imapc configuration are, else from the read of
/// its imapc configuration (made once per configuration, kept in `runs`).
async fn version_report(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    runs: &mut Vec<(Imapc, ProfileRun)>,
    limit: Duration,
) -> Result<Report, RunError> {
    let label = sc.imapc_label(profile, version);
    let imapc = match sc.imapc_for(profile, version) {
        Ok(imapc) => imapc,
        Err(e) => {
            // The plugin's own settings are refused first (doveconf reads them
            // before imapc starts).
            let e = sc.settings.for_version(version).err().unwrap_or(e);
            return Ok(config_error_report(sc, &label, version, &e));
        }
    };
    let i = match runs.iter().position(|(c, _)| *c == imapc) {
        Some(i) => i,
        None => {
            let run = tokio::time::timeout(limit, run_profile(sc, imapc))
                .await
                .map_err(|_| RunError::Timeout(limit))??;
            runs.push((imapc, run));
            runs.len() - 1
        }
    };
    Ok(profile_report(sc, &label, version, &runs[i].1)?.0)
}

/// Checks a report against the scenario's expectations for `version`.
fn check(sc: &Scenario, version: DovecotVersion, r: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    let e = sc.expect_for(version);
    let want_exit = e.exit.unwrap_or(e.outcome.exit_code());
    if r.dovecot.exit_code != want_exit {
        failures.push(format!(
            "expected doveadm exit {want_exit}, predicted {}: {}",
            r.dovecot.exit_code, r.dovecot.result
        ));
    }
    let (wrong, lost, order_lost) = r.audit.as_ref().map_or((0, 0, 0), |a| {
        (a.counts.wrong, a.counts.lost, a.counts.order_lost)
    });
    for (what, want, got) in [
        ("wrong", e.wrong as usize, wrong),
        ("lost", e.lost as usize, lost),
        ("order-lost", e.order_lost as usize, order_lost),
    ] {
        if want != got {
            failures.push(format!("expected {want} {what} UIDLs, got {got}"));
        }
    }
    for (level, wanted) in [("Warning:", &e.warnings), ("Error:", &e.errors)] {
        // doveconf's refusal is `Fatal:`; an expected error may name it.
        let level = if level == "Error:" && r.dovecot.exit_code == 89 {
            "Fatal:"
        } else {
            level
        };
        for w in wanted {
            if !r
                .dovecot
                .log
                .iter()
                .any(|l| l.starts_with(level) && l.contains(w.as_str()))
            {
                failures.push(format!(
                    "expected a {} containing {w:?}",
                    level.trim_end_matches(':').to_lowercase()
                ));
            }
        }
    }
    failures
}

/// Runs a scenario under every imapc profile and Dovecot version it is about and
/// returns its report: the first version's (its first profile's, the others' agreement
/// checked), with the versions whose answers differ attached.
pub async fn run(sc: &Scenario, limit: Duration) -> Result<Report, RunError> {
    run_with(sc, &sc.dovecot, sc.imapc, false, limit).await
}

/// [`run`] for the versions and profiles given (a command line's choice) instead of
/// the scenario's own. With `defaults_shown` (a command line that names no profile),
/// 2.4's own defaults are predicted as well under 2.4 and, where their answer differs,
/// are the prediction shown for 2.4: no profile named means the version's defaults.
/// The scenario's expectations are still checked against the profiles it is about.
pub async fn run_with(
    sc: &Scenario,
    versions: &[DovecotVersion],
    profiles: crate::domain::ProfileChoice,
    defaults_shown: bool,
    limit: Duration,
) -> Result<Report, RunError> {
    // The reads are the same for every version: read once per imapc configuration.
    let mut runs = Vec::new();
    let mut per_version = Vec::new();
    for &version in versions {
        let mut chosen = profiles.concrete_for(version).to_vec();
        let extra = defaults_shown
            && version == DovecotVersion::V2_4
            && !chosen.contains(&ImapcProfile::Defaults);
        if extra {
            chosen.push(ImapcProfile::Defaults);
        }
        let mut reports = Vec::new();
        for profile in chosen {
            let r = version_report(sc, profile, version, &mut runs, limit).await?;
            reports.push((profile, r));
        }
        let extra = if extra {
            reports.pop().map(|(_, r)| r)
        } else {
            None
        };
        let mut first = agreeing_profiles(sc, version, reports);
        if let Some(defaults) = extra.filter(|d| stored(d) != stored(&first)) {
            // Shown in the scenario profile's place; the verdict stays that profile's.
            let verdict = first.expectation.take();
            let theirs = std::mem::replace(&mut first, defaults);
            first.imapc = format!(
                "{} (no profile named: 2.4's own; differs from {}, which the scenario is about)",
                first.imapc, theirs.imapc
            );
            first.expectation = verdict;
        }
        per_version.push(first);
    }
    Ok(merge_versions(per_version))
}

/// One version's report from its profiles' (the first is the scenario's first
/// profile): their agreement checked, the expectations checked. Under 2.4 where its own
/// defaults (checked under `both`) answer otherwise, theirs is the report shown.
fn agreeing_profiles(
    sc: &Scenario,
    version: DovecotVersion,
    mut reports: Vec<(ImapcProfile, Report)>,
) -> Report {
    let (_, mut first) = reports.remove(0);
    let mut failures = check(sc, version, &first);
    for (profile, other) in &reports {
        let same = stored(other) == stored(&first);
        if same && *profile == ImapcProfile::Defaults {
            // 2.4's defaults, checked under `both`: named only where they differ,
            // so that a report reads as before where they do not.
            continue;
        }
        if same {
            first.imapc = format!("{} (same under {})", first.imapc, other.imapc);
        } else {
            failures.push(format!(
                "the prediction differs between imapc profiles {} and {} (exit {} vs {}); say which one the scenario is about with `imapc:`",
                first.imapc, other.imapc, first.dovecot.exit_code, other.dovecot.exit_code
            ));
        }
    }
    // Under 2.4 no profile named means its defaults: where they differ, theirs is
    // the prediction shown.
    if let Some(i) = reports
        .iter()
        .position(|(p, r)| *p == ImapcProfile::Defaults && stored(r) != stored(&first))
    {
        let (_, defaults) = reports.swap_remove(i);
        let mut f = check(sc, version, &defaults);
        f.extend(failures);
        failures = f;
        first = defaults;
    }
    first.expectation = Some(Expectation {
        met: failures.is_empty(),
        failures,
    });
    first
}

/// One report for several versions: the first, naming the versions that agree with it
/// (same exit code, same rows stored, same warnings and errors in the same words) and
/// carrying the others whole; its expectation holds only if every version's does.
fn merge_versions(mut reports: Vec<Report>) -> Report {
    let mut first = reports.remove(0);
    let same = |a: &Report, b: &Report| stored(a) == stored(b);
    let mut agreeing = Vec::new();
    for other in reports {
        let failed = other.expectation.as_ref().is_some_and(|e| !e.met);
        if failed && let Some(e) = first.expectation.as_mut() {
            e.met = false;
            for f in other.expectation.iter().flat_map(|e| &e.failures) {
                e.failures
                    .push(format!("Dovecot {}: {f}", other.dovecot_version));
            }
        }
        if same(&first, &other) && !failed {
            agreeing.push(other.dovecot_version);
        } else {
            first.other_versions.push(other);
        }
    }
    if !agreeing.is_empty() {
        first.dovecot_version = format!(
            "{} (same under {})",
            first.dovecot_version,
            agreeing.join(", ")
        );
    }
    first
}

/// uidlmap's prediction for ONE concrete imapc profile (`docs` or `bare`; `both` means
/// `docs`) and one Dovecot version, with the scenario's expectations for that version
/// checked against it. Unlike [`run`], nothing else is run, so nothing is said about
/// profiles agreeing.
pub async fn predict(
    sc: &Scenario,
    profile: ImapcProfile,
    version: DovecotVersion,
    limit: Duration,
) -> Result<Report, RunError> {
    let mut report = version_report(sc, profile, version, &mut Vec::new(), limit).await?;
    let failures = check(sc, version, &report);
    report.expectation = Some(Expectation {
        met: failures.is_empty(),
        failures,
    });
    Ok(report)
}

/// Log lines at warning level or above, for callers that print them.
pub fn problems(r: &Report) -> impl Iterator<Item = &String> {
    r.dovecot.log.iter().filter(|l| !l.starts_with("Debug:"))
}
