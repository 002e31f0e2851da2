//! Runs one harness: its kept regression inputs, its seeds, then mutants until the time
//! budget is spent. Each input must return `Ok` without panicking, within a time bound
//! and a memory bound; a worker thread runs the inputs while this thread watches for a
//! hang. Failing inputs are written under `target/tmp/fuzz-crashes/<harness>/` (copy
//! them to `tests/fuzz-regressions/<harness>/` to keep them).
//!
//! Budget: `UIDLMAP_FUZZ_SECS` is the total for all harnesses (split evenly); unset, each
//! harness runs about a second (the `cargo test` smoke run). `UIDLMAP_FUZZ_SEED` repeats
//! a run; unset, smoke runs use a fixed seed and budgeted runs a fresh one.

use std::collections::hash_map::DefaultHasher;
use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, mpsc};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::mutate::{Rng, mutate};

/// How many harnesses share `UIDLMAP_FUZZ_SECS`.
pub const HARNESSES: u64 = 9;

/// One input's check: `Ok` or what went wrong. The `Rng` is seeded from the input, so a
/// kept input replays exactly (chunk plans included).
pub type Check = Box<dyn FnMut(&[u8], &mut Rng) -> Result<(), String> + Send>;

pub struct Harness {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub dict: &'static [&'static [u8]],
    /// Longest mutant.
    pub max_len: usize,
    /// Most heap one input may hold at once: `mem_base + mem_per_byte * len`.
    pub mem_base: usize,
    pub mem_per_byte: usize,
    /// Longest one input may take.
    pub per_input: Duration,
    /// Builds the check on the worker thread (runtimes and servers live there).
    pub make_check: Box<dyn FnOnce() -> Check + Send>,
}

/// What a run did.
#[derive(Debug, Default)]
struct Tally {
    inputs: u64,
    regressions: u64,
    failures: Vec<String>,
    slowest: Duration,
    peak_mem: usize,
}

/// Shared between the worker and the watchdog.
struct Progress {
    /// Milliseconds since the run began at which the current input started; 0 = idle.
    started_ms: AtomicU64,
    current: Mutex<Vec<u8>>,
}

const MAX_FAILURES: usize = 20;
/// An input still running after this long is a hang: the test fails at once.
const HANG: Duration = Duration::from_secs(30);
/// Memory past which an allocation fails (and the input is dumped) rather than take the
/// machine down.
const HARD_CAP: usize = 1 << 30;

pub fn budget() -> Duration {
    match std::env::var("UIDLMAP_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(total) => Duration::from_millis(total * 1000 / HARNESSES),
        None => Duration::from_millis(1000),
    }
}

fn run_seed() -> u64 {
    if let Some(s) = std::env::var("UIDLMAP_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    if std::env::var_os("UIDLMAP_FUZZ_SECS").is_some() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map(|d| d.as_nanos() as u64).unwrap_or(1);
    }
    0x5eed
}

pub fn input_hash(input: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    input.hash(&mut h);
    h.finish()
}

pub fn crash_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-crashes")
        .join(name)
}

pub fn regression_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name)
}

/// The kept inputs of a harness, sorted by file name.
fn regressions(name: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(regression_dir(name)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = dir
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name() != "README.md")
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("regression input readable");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Panics on fuzz threads are expected: keep their message and location quietly instead
/// of printing a backtrace per input. Other threads keep the default hook.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if name.starts_with("fuzz-") {
                let msg = format!("{info}");
                if name.starts_with("fuzz-srv") {
                    crate::servers::record_server_panic(msg.clone());
                }
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs the harness and fails the test if any input failed.
pub fn run(h: Harness) {
    install_panic_hook();
    let budget = budget();
    let seed = run_seed();
    let name = h.name;
    let progress = Arc::new(Progress {
        started_ms: AtomicU64::new(0),
        current: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel();
    let p = progress.clone();
    let begun = Instant::now();
    std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .spawn(move || {
            let tally = work(h, budget, seed, &p, begun);
            let _ = tx.send(tally);
        })
        .expect("worker thread starts");
    let tally = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(t) => break t,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("fuzz {name}: worker died"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let started = progress.started_ms.load(Ordering::SeqCst);
                let now = begun.elapsed().as_millis() as u64;
                if started != 0 && now.saturating_sub(started) > HANG.as_millis() as u64 {
                    let input = progress
                        .current
                        .lock()
                        .map(|c| c.clone())
                        .unwrap_or_default();
                    let path = save(name, "hang", &input);
                    panic!(
                        "fuzz {name}: an input has run for over {HANG:?}; written to {}",
                        path.display()
                    );
                }
            }
        }
    };
    let secs = begun.elapsed().as_secs_f64();
    println!(
        "fuzz {name}: {} inputs in {secs:.1} s ({:.0}/s), {} regression inputs, {} failures, \
         slowest {:.1} ms, peak {} KiB, seed {seed}",
        tally.inputs,
        tally.inputs as f64 / secs.max(1e-9),
        tally.regressions,
        tally.failures.len(),
        tally.slowest.as_secs_f64() * 1e3,
        tally.peak_mem / 1024,
    );
    assert!(
        tally.failures.is_empty(),
        "fuzz {name}: {} failing inputs:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

fn save(name: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = crash_dir(name);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{:016x}", input_hash(input)));
    let _ = std::fs::write(&path, input);
    path
}

fn work(h: Harness, budget: Duration, seed: u64, p: &Progress, begun: Instant) -> Tally {
    alloc::track_this_thread(HARD_CAP);
    let mut check = (h.make_check)();
    let mut tally = Tally::default();
    let dump_dir = crash_dir(h.name);
    let _ = std::fs::create_dir_all(&dump_dir);
    let dump_path = CString::new(dump_dir.join("oom").to_string_lossy().into_owned())
        .expect("no NUL in the path");
    let mut one = |input: &[u8], label: &str, tally: &mut Tally| {
        if let Ok(mut c) = p.current.lock() {
            c.clear();
            c.extend_from_slice(input);
        }
        let start = Instant::now();
        p.started_ms.store(
            (begun.elapsed().as_millis() as u64).max(1),
            Ordering::SeqCst,
        );
        let mut rng = Rng::new(input_hash(input));
        let base = alloc::begin(input, &dump_path);
        let result = catch_unwind(AssertUnwindSafe(|| check(input, &mut rng)));
        let peak = alloc::peak_since(base);
        p.started_ms.store(0, Ordering::SeqCst);
        let took = start.elapsed();
        tally.inputs += 1;
        tally.slowest = tally.slowest.max(took);
        tally.peak_mem = tally.peak_mem.max(peak);
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(msg)) => Some(("wrong", msg)),
            Err(_) => {
                let msg = LAST_PANIC
                    .with(|m| m.borrow_mut().take())
                    .unwrap_or_default();
                Some(("panic", msg))
            }
        };
        let mem_limit = h.mem_base + h.mem_per_byte * input.len();
        let failure = failure
            .or_else(|| (took > h.per_input).then(|| ("slow", format!("took {took:?}"))))
            .or_else(|| {
                (peak > mem_limit)
                    .then(|| ("memory", format!("held {peak} bytes (limit {mem_limit})")))
            });
        if let Some((kind, msg)) = failure
            && tally.failures.len() < MAX_FAILURES
        {
            let path = if label.is_empty() {
                save(h.name, kind, input).display().to_string()
            } else {
                label.to_string()
            };
            let msg: String = msg.chars().take(600).collect();
            tally.failures.push(format!("  {kind}: {path}: {msg}"));
        }
    };
    for (file, input) in regressions(h.name) {
        tally.regressions += 1;
        one(
            &input,
            &format!("tests/fuzz-regressions/{}/{file}", h.name),
            &mut tally,
        );
    }
    for input in &h.seeds {
        one(input, "", &mut tally);
    }
    let mut rng = Rng::new(seed ^ input_hash(h.name.as_bytes()));
    let deadline = begun + budget;
    while Instant::now() < deadline && tally.failures.len() < MAX_FAILURES {
        let input = mutate(&mut rng, &h.seeds, h.dict, h.max_len);
        one(&input, "", &mut tally);
    }
    tally
}
