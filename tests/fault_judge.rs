//! The fault sweep judged by real Dovecot: for a scenario of every family, the commands
//! real Dovecot 2.3.19.1 sends in its fault-free run (the fake servers' transcript) are
//! each given one fault (disconnect, truncate, garbage, a `-ERR`/`NO` reply), written as
//! the scenario's own fault rule would be (the command line as `command:`, the earlier
//! commands it matches as `skip:`, `times: 1`), and the faulted scenario is run twice:
//!
//! (a) uidlmap's prediction against `doveadm backup` under the same fault, compared by
//!     [`conformance::judge_case`] (stored rows, exit code, warning and error classes):
//!     the verdict must match what Dovecot does. A disagreement of a class listed in
//!     `KNOWN_GAPS` is counted and printed as known; any other fails the test;
//! (b) `uidlmap verify` under the fault (the fault-free map, or a failure with a
//!     message) against what Dovecot did (stored the fault-free map, failed, or stored
//!     something else), printed as a cross table. A verify that exits 0 with a map no
//!     fault-free run gave fails, as in `fault_sweep.rs`.
//!
//! Delay faults are left out: pop3c has no command timeout to shorten (only imapc's
//! `imapc_cmd_timeout`), so a delay would only be waited through.
//!
//! Environment: `FAULT_JUDGE=all` every runnable scenario (and 2.4.1 where its root is
//! built), `FAULT_JUDGE_SCENARIOS=a/b,c/d` just these, `FAULT_JUDGE_IMAP=0` POP3 faults
//! only (IMAP faults are judged too: imapc's reconnect and resend are modelled in
//! `migrate/recovery.rs`), `FAULT_JUDGE_STRICT=1` known gaps
//! fail too (to measure a gap being closed), `FAULT_JUDGE_VERSIONS=2.3,2.4`,
//! `FAULT_JUDGE_VERBOSE=1` every known disagreement in full.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_servers::Protocol;
use fake_servers::script::{CommandMatch, FaultAction, LogEntry, Rule};
use support::faults::{cache_file, documented, serve, verify};
use support::{Out, dovecot_or_skip, root, scenario, skip};
use tokio::sync::Semaphore;
use uidlmap::conformance::{self, Judged, Options, Verdict};
use uidlmap::domain::{DovecotVersion, ImapcProfile};
use uidlmap::scenario::worlds::KNOWN_GAPS;
use uidlmap::scenario::{Scenario, run as scenario_run};

/// Writes a line to the process's real stderr, past libtest's capture: the counts
/// belong in every CI log, passing or not.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A small scenario of every family Dovecot can run (`bulk/` is past the conformance
/// size bound).
const DEFAULT_SET: &[&str] = &[
    "basic/identical",
    "destinations/odd-uidls-sdbox",
    "dovecot-bugs/cached-uidl-order-lost",
    "faults/top-err",
    "folders/pop3-includes-sent",
    "order/reversed",
    "providers/dovecot",
    "race/delivery-between-reads",
    "sizes/equal-adjacent",
    "uidls/duplicates",
    "versions/log-prefixes",
];

/// `--timeout` of each verify.
const TIMEOUT_S: u64 = 2;
/// Cases at once: most of a case is waiting for doveadm.
const JOBS: usize = 6;
/// Positions per protocol and scenario at most: a large maildrop's TOPs are sampled.
const MAX_POSITIONS: usize = 48;
/// The whole sweep, whatever the set.
const SWEEP_LIMIT: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Disconnect,
    Truncate,
    Garbage,
    Refuse,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Disconnect,
        Kind::Truncate,
        Kind::Garbage,
        Kind::Refuse,
    ];

    fn action(self, protocol: Protocol) -> FaultAction {
        let pop3 = protocol == Protocol::Pop3;
        match self {
            Kind::Disconnect => FaultAction::Disconnect,
            // Three bytes: a status cut in its middle (`+OK` / `* O`).
            Kind::Truncate => FaultAction::Truncate(3),
            Kind::Garbage => FaultAction::Reply(if pop3 {
                b"\x01\xffgarbage here\r\n".to_vec()
            } else {
                b"{tag} \x01\xffgarbage\r\n".to_vec()
            }),
            Kind::Refuse => FaultAction::Reply(if pop3 {
                b"-ERR injected fault\r\n".to_vec()
            } else {
                b"{tag} NO injected fault\r\n".to_vec()
            }),
        }
    }
}

/// Where one fault goes: the `index`-th command of Dovecot's fault-free run on one
/// server, as a scenario rule names it (`command:` prefix, `skip:` earlier matches).
#[derive(Clone, Debug)]
struct Position {
    protocol: Protocol,
    index: usize,
    command: String,
    skip: u64,
}

impl Position {
    fn rule(&self, kind: Kind) -> Rule {
        Rule {
            on: CommandMatch::prefix(self.protocol, &self.command),
            action: kind.action(self.protocol),
            skip: self.skip,
            times: Some(1),
        }
    }

    /// Whether a run with this transcript reached the fault.
    fn fired(&self, transcript: &[LogEntry]) -> bool {
        count_matching(transcript, self.protocol, &self.command) > self.skip
    }

    fn yaml(&self, kind: Kind) -> String {
        let p = match self.protocol {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        };
        format!(
            "{{ when: {{ protocol: {p}, command: {:?} }}, skip: {}, times: 1, {kind:?} }}",
            self.command, self.skip
        )
    }
}

fn count_matching(transcript: &[LogEntry], protocol: Protocol, prefix: &str) -> u64 {
    let prefix = prefix.to_ascii_uppercase();
    transcript
        .iter()
        .filter(|e| e.protocol == protocol && e.command.to_ascii_uppercase().starts_with(&prefix))
        .count() as u64
}

/// Every command of `protocol` in the transcript as a position. A command carrying a
/// redacted secret is named by its first word. Past [`MAX_POSITIONS`], evenly spread
/// ones (the first and last included).
fn positions(transcript: &[LogEntry], protocol: Protocol) -> Vec<Position> {
    let mine: Vec<&LogEntry> = transcript
        .iter()
        .filter(|e| e.protocol == protocol)
        .collect();
    let mut out = Vec::new();
    for (index, e) in mine.iter().enumerate() {
        let command = if e.command.contains("***") {
            e.command.split(' ').next().unwrap_or("").to_string()
        } else {
            e.command.clone()
        };
        let upper = command.to_ascii_uppercase();
        let skip = mine[..index]
            .iter()
            .filter(|e| e.command.to_ascii_uppercase().starts_with(&upper))
            .count() as u64;
        out.push(Position {
            protocol,
            index,
            command,
            skip,
        });
    }
    if out.len() > MAX_POSITIONS {
        let n = out.len();
        let keep: Vec<usize> = (0..MAX_POSITIONS)
            .map(|i| i * (n - 1) / (MAX_POSITIONS - 1))
            .collect();
        out = out
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, p)| p)
            .collect();
    }
    out
}

/// What Dovecot's run amounts to, for the cross table: its exit code and stored rows.
type Stored = (i32, Vec<(String, u32, String, u32)>);

fn stored(j: &Judged) -> Option<Stored> {
    let real = j.real.as_ref()?;
    let rows = real
        .messages
        .iter()
        .map(|m| (m.mailbox.clone(), m.uid, m.pop3_uidl.clone(), m.pop3_order))
        .collect();
    Some((real.exit_code, rows))
}

/// The judgement of the prediction against Dovecot under one fault.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Judgement {
    Agree,
    /// Dovecot's run never reached the fault (and the prediction agreed).
    NeverFired,
    /// A disagreement of a class `KNOWN_GAPS` names.
    Known(&'static str),
    New,
    /// The harness failed (a fake server, the oracle, the prediction).
    Error,
}

/// What `uidlmap verify` did under the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum VerifySaw {
    FaultFreeMap,
    FailedWithMessage,
    /// Exit 0 with another map in a scenario whose world changes during the run.
    RaceMap,
    // Failures:
    OtherMapExitZero,
    Silent,
    Panic,
}

/// What Dovecot did under the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DovecotDid {
    StoredFaultFreeMap,
    Failed,
    StoredOther,
    NotRun,
}

/// The KNOWN_GAPS entry a disagreement under this fault belongs to, if any. `resent`:
/// the fault-free run of Dovecot sends some `TOP` more than once (pop3c re-asks a
/// prefetch that failed, which uidlmap does not model).
fn known_gap(sc: &Scenario, pos: &Position, kind: Kind, resent: bool) -> Option<&'static str> {
    let command = pos.command.to_ascii_uppercase();
    // RETR reads the header where TOP is missing, and the whole message of a header
    // without its blank line: pop3c prefetches and re-asks it alike.
    let top = command.starts_with("TOP") || command.starts_with("RETR");
    let name = if pos.protocol == Protocol::Imap {
        // imapc's recovery is modelled (migrate/recovery.rs): an IMAP disagreement is new.
        return None;
    } else if sc.settings.all_mailboxes {
        "cache or POP3 faults with all_mailboxes"
    } else if top && (matches!(kind, Kind::Refuse | Kind::Garbage) || resent || pos.skip > 0) {
        "POP3 -ERR at TOP by index"
    } else if command == "CAPA" && kind == Kind::Garbage {
        "POP3 garbage in the CAPA reply"
    } else {
        return None;
    };
    let (name, _) = KNOWN_GAPS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("KNOWN_GAPS has no entry {name:?}"));
    Some(name)
}

/// Whether Dovecot's run sent some POP3 `TOP` or `RETR` twice.
fn resends_top(positions: &[Position]) -> bool {
    positions.iter().any(|p| {
        p.protocol == Protocol::Pop3
            && p.skip > 0
            && (p.command.starts_with("TOP") || p.command.starts_with("RETR"))
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn chosen() -> Vec<String> {
    if let Some(list) = env("FAULT_JUDGE_SCENARIOS") {
        return list.split(',').map(|s| s.trim().to_string()).collect();
    }
    if env("FAULT_JUDGE").as_deref() != Some("all") {
        return DEFAULT_SET.iter().map(|s| s.to_string()).collect();
    }
    let scenarios = conformance::load(&[root().join("scenarios")]).expect("scenarios/ loads");
    scenarios.into_iter().map(|s| s.name).collect()
}

fn versions() -> Vec<DovecotVersion> {
    let asked = env("FAULT_JUDGE_VERSIONS").unwrap_or_else(|| {
        if env("FAULT_JUDGE").as_deref() == Some("all") {
            "2.3,2.4".into()
        } else {
            "2.3".into()
        }
    });
    DovecotVersion::ALL
        .iter()
        .copied()
        .filter(|v| asked.split(',').any(|a| a.trim() == v.name()))
        .collect()
}

/// One scenario under one version, fault-free: what each fault is judged against.
struct Base {
    sc: Arc<Scenario>,
    profile: ImapcProfile,
    version: DovecotVersion,
    cache: Option<String>,
    dovecot: Stored,
    verify: Vec<(i32, String)>,
    positions: Vec<Position>,
}

/// The fault-free runs of a scenario, or why it is not swept.
async fn base(
    sc: Scenario,
    version: DovecotVersion,
    opts: &Options,
    dir: &std::path::Path,
    imap: bool,
) -> Result<Base, String> {
    if scenario_run::needs_tls(&sc) {
        return Err("needs TLS".into());
    }
    if let Some(why) = conformance::not_runnable(&sc) {
        return Err(why);
    }
    let profile = sc.imapc.concrete()[0];
    let j = conformance::judge_case(&sc, profile, version, opts).await;
    if j.case.verdict != Verdict::Agree {
        return Err(format!("fault-free run: {:?}", j.case.verdict));
    }
    let mut at = positions(&j.transcript, Protocol::Pop3);
    if imap {
        at.extend(positions(&j.transcript, Protocol::Imap));
    }
    let cache = cache_file(&sc, dir);
    let sc = Arc::new(sc);
    // A world that changes during the run races with verify's concurrent reads.
    let tries = if sc.events.is_empty() { 1 } else { 6 };
    let mut bases = Vec::new();
    for _ in 0..tries {
        let (sc2, cache2) = (sc.clone(), cache.clone());
        let out = tokio::task::spawn_blocking(move || {
            verify(&serve(&sc2, None), &sc2, cache2.as_deref(), TIMEOUT_S).0
        })
        .await
        .expect("verify thread");
        if !bases.contains(&(out.code, out.stdout.clone())) {
            bases.push((out.code, out.stdout));
        }
    }
    Ok(Base {
        dovecot: stored(&j).expect("an agreeing case ran Dovecot"),
        sc,
        profile,
        version,
        cache,
        verify: bases,
        positions: at,
    })
}

/// One faulted run, judged.
struct Outcome {
    scenario: String,
    version: &'static str,
    pos: Position,
    kind: Kind,
    judgement: Judgement,
    verify: VerifySaw,
    dovecot: DovecotDid,
    /// Whether verify's own reads reached the command (they differ from Dovecot's).
    verify_fired: bool,
    detail: Vec<String>,
}

fn verify_saw(base: &Base, out: &Out) -> VerifySaw {
    if out.stderr.contains("panicked") || !documented(out.code) {
        VerifySaw::Panic
    } else if base
        .verify
        .iter()
        .any(|(c, m)| *c == out.code && *m == out.stdout)
    {
        VerifySaw::FaultFreeMap
    } else if out.code == 0 && !base.sc.events.is_empty() {
        VerifySaw::RaceMap
    } else if out.code == 0 {
        VerifySaw::OtherMapExitZero
    } else if out.stderr.trim().is_empty() {
        VerifySaw::Silent
    } else {
        VerifySaw::FailedWithMessage
    }
}

async fn run_fault(base: Arc<Base>, pos: Position, kind: Kind, opts: Options) -> Outcome {
    let mut sc = (*base.sc).clone();
    sc.rules.push(pos.rule(kind));
    let sc = Arc::new(sc);
    let j = conformance::judge_case(&sc, base.profile, base.version, &opts).await;
    let (sc2, cache, pos2) = (sc.clone(), base.cache.clone(), pos.clone());
    let (out, verify_fired) = tokio::task::spawn_blocking(move || {
        let servers = serve(&sc2, None);
        let out = verify(&servers, &sc2, cache.as_deref(), TIMEOUT_S).0;
        (out, pos2.fired(&servers.script().log()))
    })
    .await
    .expect("verify thread");
    let fired = pos.fired(&j.transcript);
    let (judgement, detail) = match &j.case.verdict {
        Verdict::Agree if !fired => (Judgement::NeverFired, vec![]),
        Verdict::Agree => (Judgement::Agree, vec![]),
        Verdict::Disagree(d) => match known_gap(&sc, &pos, kind, resends_top(&base.positions)) {
            Some(gap) => (Judgement::Known(gap), d.clone()),
            None => (Judgement::New, d.clone()),
        },
        Verdict::Skipped(why) | Verdict::Error(why) => (Judgement::Error, vec![why.clone()]),
    };
    let dovecot = match stored(&j) {
        None => DovecotDid::NotRun,
        Some(s) if s == base.dovecot => DovecotDid::StoredFaultFreeMap,
        Some((code, _)) if code != 0 => DovecotDid::Failed,
        Some(_) => DovecotDid::StoredOther,
    };
    let mut detail = detail;
    if !matches!(verify_saw(&base, &out), VerifySaw::FaultFreeMap) {
        detail.push(format!(
            "(verify: exit {}: {})",
            out.code,
            out.stderr.lines().last().unwrap_or("")
        ));
    }
    Outcome {
        scenario: base.sc.name.clone(),
        version: base.version.name(),
        verify: verify_saw(&base, &out),
        pos,
        kind,
        judgement,
        dovecot,
        verify_fired,
        detail,
    }
}

impl Outcome {
    fn what(&self) -> String {
        format!(
            "{} {} {:?}#{} {}",
            self.scenario,
            self.version,
            self.pos.protocol,
            self.pos.index,
            self.pos.yaml(self.kind)
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_judges_one_fault_at_every_command_index() {
    const TEST: &str = "dovecot_judges_one_fault_at_every_command_index";
    if !dovecot_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    let results = tokio::time::timeout(SWEEP_LIMIT, sweep())
        .await
        .expect("the fault judge finished within its bound");
    let strict = env("FAULT_JUDGE_STRICT").is_some();
    let failures = print(&results, started.elapsed());
    let known: usize = results
        .iter()
        .filter(|o| matches!(o.judgement, Judgement::Known(_)))
        .count();
    assert!(
        failures.is_empty() && (!strict || known == 0),
        "{} new disagreements or failures ({known} known{}):\n{}",
        failures.len(),
        if strict {
            ", failing under FAULT_JUDGE_STRICT"
        } else {
            ""
        },
        failures.join("\n")
    );
}

/// Every scenario's fault-free base, then every fault of every base, `JOBS` at a time.
async fn sweep() -> Vec<Outcome> {
    let opts = Options {
        jobs: JOBS,
        dovecot_timeout: Duration::from_secs(10),
        ..Options::default()
    };
    let imap = env("FAULT_JUDGE_IMAP").as_deref() != Some("0");
    let dir = support::tempdir();
    let mut bases = Vec::new();
    for version in versions() {
        if let Some(why) = version.unavailable_reason() {
            skip(
                "dovecot_judges_one_fault_at_every_command_index",
                &format!("Dovecot {}: {why}", version.name()),
            );
            continue;
        }
        for name in chosen() {
            let sc = scenario(&format!("{name}.yaml"));
            match base(sc, version, &opts, dir.path(), imap).await {
                Ok(b) => bases.push(Arc::new(b)),
                Err(why) => say!("fault judge: {name} {}: not swept: {why}", version.name()),
            }
        }
    }
    let jobs = Arc::new(Semaphore::new(JOBS));
    let mut handles = Vec::new();
    for b in &bases {
        for pos in &b.positions {
            for kind in Kind::ALL {
                let (b, pos, jobs, opts) = (b.clone(), pos.clone(), jobs.clone(), opts.clone());
                handles.push(tokio::spawn(async move {
                    let _permit = jobs.acquire_owned().await.expect("never closed");
                    run_fault(b, pos, kind, opts).await
                }));
            }
        }
    }
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a faulted case panicked"));
    }
    out
}

/// Prints the counts, the cross table and every disagreement; returns the failures.
fn print(results: &[Outcome], took: Duration) -> Vec<String> {
    let mut by_judgement: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_family: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cross: BTreeMap<(VerifySaw, DovecotDid), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut never = Vec::new();
    let mut verify_never = 0;
    let verbose = env("FAULT_JUDGE_VERBOSE").is_some();
    for o in results {
        let j = match &o.judgement {
            Judgement::Known(gap) => format!("known ({gap})"),
            other => format!("{other:?}"),
        };
        *by_judgement.entry(j.clone()).or_default() += 1;
        let family = o.scenario.split('/').next().unwrap_or("").to_string();
        *by_family.entry((family, j)).or_default() += 1;
        *cross.entry((o.verify, o.dovecot)).or_default() += 1;
        verify_never += usize::from(!o.verify_fired);
        let bad_verify = o.verify >= VerifySaw::OtherMapExitZero;
        match &o.judgement {
            Judgement::New | Judgement::Error => {
                failures.push(format!("{:?}: {}", o.judgement, o.what()));
                failures.extend(o.detail.iter().map(|d| format!("    {d}")));
            }
            Judgement::Known(gap) => {
                say!("fault judge: known ({gap}): {}", o.what());
                if verbose {
                    o.detail.iter().for_each(|d| say!("    {d}"));
                }
            }
            Judgement::NeverFired => never.push(o.what()),
            Judgement::Agree => {}
        }
        // A verify map that only a known gap explains (e.g. `-ERR` at TOP read as an
        // expunged message, where pop3c asks again) is counted with that gap.
        if bad_verify && matches!(o.judgement, Judgement::Known(_)) {
            say!("fault judge: known, verify {:?}: {}", o.verify, o.what());
        } else if bad_verify {
            failures.push(format!("verify {:?}: {}", o.verify, o.what()));
            failures.extend(o.detail.iter().map(|d| format!("    {d}")));
        }
    }
    say!(
        "fault judge: {} faulted runs in {:.0} s: {by_judgement:?}",
        results.len(),
        took.as_secs_f64()
    );
    for ((family, j), n) in &by_family {
        say!("fault judge: family {family:<13} {j:<50} {n}");
    }
    say!("fault judge: verify under the fault × Dovecot under the fault:");
    for ((v, d), n) in &cross {
        say!("  {:<20} {:<20} {n}", format!("{v:?}"), format!("{d:?}"));
    }
    say!(
        "fault judge: positions Dovecot never reached: {}",
        never.len()
    );
    for n in &never {
        say!("  never fired: {n}");
    }
    say!("fault judge: faulted runs whose verify never reached the command: {verify_never}");
    failures
}
