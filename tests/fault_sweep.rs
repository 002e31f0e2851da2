//! The fault sweep: for a scenario of every family, one fault at a time (disconnect,
//! truncate, garbage, delay past the timeout) at every command index of each protocol
//! that the fault-free `uidlmap verify` reaches, served by the fake servers. Every run
//! must end within its deadline without a panic, and give either the fault-free exit
//! and map or a non-zero exit with a message on stderr: never exit 0 with another map.
//! Prints the counts per outcome and the positions that never fired.
//!
//! `FAULT_SWEEP=all` sweeps every scenario without TLS knobs (minutes); the default
//! set is one or two per family, bounded for CI.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_servers::Protocol;
use fake_servers::script::{CommandMatch, FaultAction, Rule};
use support::faults::{cache_file, documented, serve, verify};
use support::{Out, root, scenario, tempdir};
use uidlmap::scenario::{Scenario, run as scenario_run};

/// One scenario per family (two where the family's faults differ in kind).
const DEFAULT_SET: &[&str] = &[
    "basic/identical",
    "dovecot-bugs/cached-uidl-order-lost",
    "faults/top-err",
    "folders/pop3-includes-sent",
    "order/reversed",
    "providers/dovecot",
    "race/delivery-between-reads",
    "sizes/equal-adjacent",
    "uidls/duplicates",
];

/// `--timeout` of every run: the delay fault waits longer than this.
const TIMEOUT_S: u64 = 1;
/// The most one run may take: a handful of timeouts, never a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// Runs at once (most of a run is waiting).
const JOBS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Disconnect,
    Truncate,
    Garbage,
    Delay,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Disconnect, Kind::Truncate, Kind::Garbage, Kind::Delay];

    fn action(self, protocol: Protocol) -> FaultAction {
        match self {
            Kind::Disconnect => FaultAction::Disconnect,
            // Three bytes: a status cut in its middle (`+OK` / `* O`).
            Kind::Truncate => FaultAction::Truncate(3),
            Kind::Garbage => FaultAction::Reply(match protocol {
                Protocol::Pop3 => b"\x01\xffgarbage here\r\n".to_vec(),
                Protocol::Imap => b"{tag} \x01\xffgarbage\r\n".to_vec(),
            }),
            Kind::Delay => FaultAction::Delay(Duration::from_millis(TIMEOUT_S * 1000 + 700)),
        }
    }
}

/// How one faulty run ended, against the fault-free run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Same exit code and the same map.
    Same,
    /// A non-zero exit with a message on stderr.
    ClearFailure,
    /// The fault was never reached (the run sent fewer commands).
    NeverFired,
    /// Exit 0 with a map no fault-free run gave, in a scenario whose world changes
    /// during the run (timeline events): the fault moved the read past the change.
    /// Reported, not failed: the provider really changed between the reads.
    RaceMap,
    // Failures of the sweep:
    ExitZeroDifferentMap,
    SilentFailure,
    Panic,
    PastDeadline,
}

impl Outcome {
    fn bad(self) -> bool {
        self >= Outcome::ExitZeroDifferentMap
    }
}

/// The fault-free results: one, or for scenarios whose world changes during the run
/// (timeline events race with verify's concurrent POP3 and IMAP reads) every result
/// seen in a few runs.
type Bases = Vec<(i32, String)>;

fn judge(bases: &Bases, out: &Out, took: Duration) -> Outcome {
    if took > RUN_DEADLINE {
        Outcome::PastDeadline
    } else if out.stderr.contains("panicked") || !documented(out.code) {
        Outcome::Panic
    } else if bases
        .iter()
        .any(|(c, m)| *c == out.code && *m == out.stdout)
    {
        Outcome::Same
    } else if out.code == 0 {
        Outcome::ExitZeroDifferentMap
    } else if out.stderr.trim().is_empty() {
        Outcome::SilentFailure
    } else {
        Outcome::ClearFailure
    }
}

struct Job {
    sc: Arc<Scenario>,
    cache: Option<String>,
    base: Arc<Bases>,
    protocol: Protocol,
    index: u64,
    kind: Kind,
}

fn run_job(job: &Job) -> (Outcome, String) {
    let rule = Rule {
        on: CommandMatch {
            protocol: Some(job.protocol),
            ..Default::default()
        },
        action: job.kind.action(job.protocol),
        skip: job.index,
        times: Some(1),
    };
    let served = serve(&job.sc, Some(rule));
    let (out, took) = verify(&served, &job.sc, job.cache.as_deref(), TIMEOUT_S);
    let fired = served.script().command_count(job.protocol) > job.index;
    let mut outcome = judge(&job.base, &out, took);
    if !fired && outcome == Outcome::Same {
        outcome = Outcome::NeverFired;
    }
    if outcome == Outcome::ExitZeroDifferentMap && !job.sc.events.is_empty() {
        outcome = Outcome::RaceMap;
    }
    let what = format!(
        "{} {:?}#{} {:?}: exit {} in {:.1} s: {}",
        job.sc.name,
        job.protocol,
        job.index,
        job.kind,
        out.code,
        took.as_secs_f64(),
        out.stderr.lines().last().unwrap_or("")
    );
    (outcome, what)
}

fn chosen() -> Vec<String> {
    if std::env::var("FAULT_SWEEP").as_deref() == Ok("all") {
        let mut all = Vec::new();
        for dir in std::fs::read_dir(root().join("scenarios")).expect("scenarios") {
            let dir = dir.expect("entry").path();
            let family = dir.file_name().unwrap().to_string_lossy().to_string();
            if family.starts_with('_') || !dir.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&dir).expect("family") {
                let f = f.expect("entry").path();
                if f.extension().is_some_and(|e| e == "yaml") {
                    let stem = f.file_stem().unwrap().to_string_lossy().to_string();
                    all.push(format!("{family}/{stem}"));
                }
            }
        }
        all.sort();
        all
    } else {
        DEFAULT_SET.iter().map(|s| s.to_string()).collect()
    }
}

#[test]
fn one_fault_at_every_command_index() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let dir = tempdir();
    let started = Instant::now();
    let mut jobs = Vec::new();
    for name in chosen() {
        let sc = scenario(&format!("{name}.yaml"));
        if scenario_run::needs_tls(&sc) {
            continue;
        }
        let cache = cache_file(&sc, dir.path());
        let mut bases = Bases::new();
        let mut counts = [(Protocol::Pop3, 0), (Protocol::Imap, 0)];
        let tries = if sc.events.is_empty() { 1 } else { 8 };
        for _ in 0..tries {
            let served = serve(&sc, None);
            let (base, took) = verify(&served, &sc, cache.as_deref(), TIMEOUT_S);
            assert!(
                took < RUN_DEADLINE && documented(base.code) && !base.stderr.contains("panicked"),
                "{name}: fault-free run: exit {} in {took:?}: {}",
                base.code,
                base.stderr
            );
            for (p, n) in &mut counts {
                *n = (*n).max(served.script().command_count(*p));
            }
            if !bases.contains(&(base.code, base.stdout.clone())) {
                bases.push((base.code, base.stdout));
            }
        }
        if bases.len() > 1 {
            eprintln!(
                "fault sweep: {name}: {} fault-free results (a race)",
                bases.len()
            );
        }
        let sc = Arc::new(sc);
        let base = Arc::new(bases);
        for (protocol, n) in counts {
            for index in 0..n {
                for kind in Kind::ALL {
                    jobs.push(Job {
                        sc: sc.clone(),
                        cache: cache.clone(),
                        base: base.clone(),
                        protocol,
                        index,
                        kind,
                    });
                }
            }
        }
    }
    let total = jobs.len();
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..JOBS {
            let (jobs, results) = (jobs.clone(), results.clone());
            let handle = rt.handle().clone();
            s.spawn(move || {
                let _guard = handle.enter();
                loop {
                    let Some(job) = jobs.lock().unwrap().pop() else {
                        break;
                    };
                    let r = run_job(&job);
                    results.lock().unwrap().push(r);
                }
            });
        }
    });
    let results = std::mem::take(&mut *results.lock().unwrap());
    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut never = Vec::new();
    for (outcome, what) in &results {
        *counts.entry(*outcome).or_default() += 1;
        if outcome.bad() {
            bad.push(format!("{outcome:?}: {what}"));
        } else if *outcome == Outcome::RaceMap {
            eprintln!("fault sweep: race map: {what}");
        } else if *outcome == Outcome::NeverFired {
            never.push(what.split(':').next().unwrap_or("").to_string());
        }
    }
    eprintln!(
        "fault sweep: {total} runs in {:.0} s: {counts:?}",
        started.elapsed().as_secs_f64()
    );
    never.sort();
    eprintln!("fault sweep: positions that never fired: {}", never.len());
    for n in &never {
        eprintln!("  never fired: {n}");
    }
    assert!(
        bad.is_empty(),
        "{} bad runs:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
