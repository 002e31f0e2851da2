//! Hunting: random worlds ([`crate::scenario::worlds`]) run through real Dovecot and
//! uidlmap (`uidlmap conformance --random N --seed S`), each disagreement shrunk to a
//! minimal scenario.
//!
//! Every world is rendered to a scenario file and loaded by the ordinary loader, then
//! checked by [`conformance::check_case`] under each imapc profile it is about. A case
//! that disagrees, or whose prediction fails (uidlmap must always predict, issue 12 d),
//! is shrunk: one folder, message, event, fault, setting, the cache, the profile, …
//! left out at a time, kept when the smaller world still fails in the same way (the
//! same kinds of difference: exit code, stored rows, log lines, prediction error),
//! until no step is kept or [`HuntOptions::shrink_runs`] runs were spent. Worlds are
//! checked `jobs` at a time; the output (worlds, found failures) is in index order
//! whatever the timing, so the same seed gives the same report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::conformance::{self, Case, Options, Verdict};
use crate::domain::{DovecotVersion, ImapcProfile};
use crate::scenario::worlds::{self, GenOptions, WorldSpec};
use crate::scenario::{Scenario, load_str};

/// What a hunt does.
#[derive(Clone, Debug)]
pub struct HuntOptions {
    pub generate: GenOptions,
    /// Cases, doveadm bounds and profile filter.
    pub conformance: Options,
    /// Bound on the runs spent shrinking one failure.
    pub shrink_runs: usize,
    /// Leave out of every world what [`worlds::KNOWN_GAPS`] lists.
    pub skip_known_gaps: bool,
}

/// One failure found, shrunk.
#[derive(Clone, Debug)]
pub struct Found {
    /// The world it was found in (`random-SEED-I`).
    pub world: String,
    pub profile: &'static str,
    /// The Dovecot version it disagreed under.
    pub version: DovecotVersion,
    /// The differences of the shrunk world.
    pub diffs: Vec<String>,
    /// The shrunk world, about that profile only, with what differed in its comments.
    pub shrunk: WorldSpec,
    /// Runs spent shrinking.
    pub shrink_runs: usize,
    /// A guess at the issue-12 class, for the reader.
    pub class: &'static str,
}

/// What a hunt found.
#[derive(Clone, Debug, Default)]
pub struct HuntResult {
    pub worlds: usize,
    /// Every case of every world as first run (not the shrinking runs).
    pub cases: Vec<Case>,
    pub found: Vec<Found>,
}

/// Loads a rendered world; `Err` is the loader's message (a generator bug, or a shrink
/// step that made the world invalid).
pub fn load_world(w: &WorldSpec) -> Result<Scenario, String> {
    let path = PathBuf::from(format!("random/{}.yaml", w.name));
    let mut sc = load_str(&w.render(), &path, Path::new(".")).map_err(|e| e.to_string())?;
    sc.name = w.name.clone();
    Ok(sc)
}

/// Whether a case fails (disagrees, or uidlmap could not predict).
fn fails(v: &Verdict) -> bool {
    match v {
        Verdict::Disagree(_) => true,
        Verdict::Error(e) => e.starts_with("uidlmap's prediction"),
        _ => false,
    }
}

/// The kinds of difference of a failing case, to tell whether a shrunk world still
/// fails in the same way.
fn kinds(v: &Verdict) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    match v {
        Verdict::Error(_) => {
            out.insert("prediction");
        }
        Verdict::Disagree(diffs) => {
            for d in diffs.iter().filter(|d| !d.starts_with('(')) {
                out.insert(if d.starts_with("exit code") {
                    "exit"
                } else if d.starts_with("doveadm did not finish") {
                    "timeout"
                } else if d.contains(" UID ") && d.contains("stored") {
                    "stored"
                } else {
                    "log"
                });
            }
        }
        _ => {}
    }
    out
}

/// The lines a failing verdict reports.
fn lines(v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Disagree(d) => d.clone(),
        Verdict::Error(e) => vec![e.clone()],
        _ => Vec::new(),
    }
}

/// A guess at the class of issue 12 a shrunk failure belongs to.
fn classify(w: &WorldSpec, v: &Verdict) -> &'static str {
    let k = kinds(v);
    if k.contains("prediction") {
        return "d (prediction under faults never fails)";
    }
    if !w.faults.is_empty() {
        return "e/g (which step fails; imapc's own recovery)";
    }
    if w.events.iter().any(|e| e.yaml.contains("expunge")) && k.contains("stored") {
        return "f (absent is not empty)";
    }
    if w.folders.len() > 1 && k.contains("stored") {
        return "a/b (folder order; mailbox names)";
    }
    "new"
}

/// Runs the hunt; `progress(done, total, failing)` after each world.
pub async fn hunt(
    opts: &HuntOptions,
    progress: Arc<dyn Fn(usize, usize, usize) + Send + Sync>,
) -> HuntResult {
    let mut specs = worlds::generate(opts.generate);
    if opts.skip_known_gaps {
        for w in &mut specs {
            w.without_known_gaps();
        }
    }
    let total = specs.len();
    let jobs = Arc::new(Semaphore::new(opts.conformance.jobs.max(1)));
    let done = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(total);
    for spec in specs {
        let (jobs, opts, progress) = (jobs.clone(), opts.clone(), progress.clone());
        let (done, failing) = (done.clone(), failing.clone());
        handles.push(tokio::spawn(async move {
            let out = hunt_world(spec, &opts, &jobs).await;
            if !out.1.is_empty() {
                failing.fetch_add(1, Ordering::Relaxed);
            }
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(n, total, failing.load(Ordering::Relaxed));
            out
        }));
    }
    let mut result = HuntResult {
        worlds: total,
        ..HuntResult::default()
    };
    for h in handles {
        let (cases, found) = h.await.expect("a hunted world panicked");
        result.cases.extend(cases);
        result.found.extend(found);
    }
    result
}

/// One case, holding a job permit while it runs.
async fn check(
    sc: &Scenario,
    p: ImapcProfile,
    v: DovecotVersion,
    opts: &Options,
    jobs: &Semaphore,
) -> Case {
    let _permit = jobs.acquire().await.expect("never closed");
    conformance::check_case(sc, p, v, opts).await
}

/// Every case of one world, and its failures shrunk.
async fn hunt_world(
    spec: WorldSpec,
    opts: &HuntOptions,
    jobs: &Semaphore,
) -> (Vec<Case>, Vec<Found>) {
    let sc = match load_world(&spec) {
        Ok(sc) => sc,
        Err(e) => {
            let case = Case {
                scenario: spec.name.clone(),
                profile: "both",
                version: "all",
                destination: "maildir",
                verdict: Verdict::Error(format!("the generated world does not load: {e}")),
                dovecot_exit: None,
                predicted_exit: None,
                millis: 0,
            };
            return (vec![case], Vec::new());
        }
    };
    let mut cases = Vec::new();
    let mut found = Vec::new();
    for &v in &opts.conformance.versions {
        for p in conformance::profiles(&sc, opts.conformance.profile, v) {
            let case = check(&sc, p, v, &opts.conformance, jobs).await;
            if fails(&case.verdict) {
                found.push(shrink(&spec, p, v, &case, opts, jobs).await);
            }
            cases.push(case);
        }
    }
    (cases, found)
}

/// Shrinks a failing world under profile `p` and version `v` (see the module
/// documentation).
async fn shrink(
    spec: &WorldSpec,
    p: ImapcProfile,
    v: DovecotVersion,
    first: &Case,
    opts: &HuntOptions,
    jobs: &Semaphore,
) -> Found {
    let want = kinds(&first.verdict);
    let mut best = spec.clone();
    best.imapc = p.name().to_string();
    best.dovecot = (v != DovecotVersion::V2_3).then(|| v.name().to_string());
    let mut verdict = first.verdict.clone();
    let mut exit = first.dovecot_exit;
    let mut runs = 0;
    'outer: while runs < opts.shrink_runs {
        for cand in best.shrink_candidates() {
            if runs >= opts.shrink_runs {
                break 'outer;
            }
            let Ok(sc) = load_world(&cand) else { continue };
            runs += 1;
            let case = check(&sc, p, v, &opts.conformance, jobs).await;
            if fails(&case.verdict) && !kinds(&case.verdict).is_disjoint(&want) {
                best = cand;
                verdict = case.verdict;
                exit = case.dovecot_exit;
                continue 'outer;
            }
        }
        break;
    }
    let diffs = lines(&verdict);
    let class = classify(&best, &verdict);
    best.outcome = exit.map(|e| {
        match e {
            0 => "success",
            134 => "abort",
            _ => "failure",
        }
        .to_string()
    });
    best.comments = vec![
        format!(
            "Shrunk from world {} of the hunt with seed {} ({runs} shrinking runs).",
            spec.name, opts.generate.seed
        ),
        format!(
            "Under imapc {}, uidlmap and Dovecot {} disagree (class guess: {class}):",
            p.name(),
            v.name()
        ),
    ];
    best.comments
        .extend(diffs.iter().map(|d| format!("  {}", d.replace('\n', " "))));
    Found {
        world: spec.name.clone(),
        profile: p.name(),
        version: v,
        diffs,
        shrunk: best,
        shrink_runs: runs,
        class,
    }
}

/// Writes each shrunk failure to `dir` as `<world>-<version>-<profile>.yaml`.
pub fn keep_failures(found: &[Found], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for f in found {
        let path = dir.join(format!(
            "{}-{}-{}.yaml",
            f.world,
            f.version.as_str(),
            f.profile
        ));
        std::fs::write(&path, f.shrunk.render())?;
        out.push(path);
    }
    Ok(out)
}

/// The one summary line.
pub fn summary(r: &HuntResult, seed: u64, secs: f64) -> String {
    let n = conformance::counts(&r.cases);
    format!(
        "hunted {} worlds (seed {seed}): {} runs, {} agree, {} disagree, {} prediction failures, {} skipped, {} errors; {} shrunk failures; {secs:.1} s",
        r.worlds,
        r.cases.len(),
        n.agree,
        n.disagree,
        r.cases
            .iter()
            .filter(
                |c| matches!(&c.verdict, Verdict::Error(e) if e.starts_with("uidlmap's prediction"))
            )
            .count(),
        n.skipped,
        n.error,
        r.found.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_world_loads() {
        let specs = worlds::generate(GenOptions {
            seed: 7,
            count: 200,
            messages: None,
        });
        for w in &specs {
            if let Err(e) = load_world(w) {
                panic!("{}:\n{}\n{e}", w.name, w.render());
            }
        }
    }

    #[test]
    fn shrink_candidates_are_smaller_and_mostly_load() {
        let w = worlds::world(11, 3, Some(6));
        let cands = w.shrink_candidates();
        assert!(!cands.is_empty());
        assert!(cands.iter().all(|c| c.render().len() < w.render().len()));
        assert!(cands.iter().filter(|c| load_world(c).is_ok()).count() * 2 >= cands.len());
    }
}
