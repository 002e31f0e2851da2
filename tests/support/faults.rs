//! What the two fault sweeps share (`fault_sweep.rs` judged against the fault-free
//! verify, `fault_judge.rs` judged by real Dovecot): a scenario served with one extra
//! fault rule, its UIDL cache written as `--cache` reads it, and one `uidlmap verify`
//! against the served scenario.

use std::path::Path;
use std::time::{Duration, Instant};

use fake_servers::script::Rule;
use fake_servers::{FakeServers, Script, Servers};
use uidlmap::scenario::{Scenario, run as scenario_run};

use super::{Out, command, output};

/// The scenario's world and script served on 127.0.0.1, with `extra` after its own
/// fault rules.
pub fn serve(sc: &Scenario, extra: Option<Rule>) -> FakeServers {
    let mut rules = sc.rules.clone();
    rules.extend(extra);
    let (pop3, imap) = scenario_run::server_options(&sc.knobs, None);
    Servers::shared(sc.shared_world())
        .script(Script::new(rules, sc.events.clone()))
        .pop3_options(pop3)
        .imap_options(imap)
        .start()
        .expect("fake servers start")
}

/// Writes the scenario's UIDL cache as `--cache` reads it, if it has one.
pub fn cache_file(sc: &Scenario, dir: &Path) -> Option<String> {
    if sc.cache.is_empty() {
        return None;
    }
    let mut text = String::from(uidlmap::report::TSV_HEADER);
    text.push('\n');
    for (mailbox, uids) in &sc.cache {
        for (uid, uidl) in uids {
            text.push_str(&format!("{mailbox}\t{uid}\t{uidl}\t\n"));
        }
    }
    let path = dir.join(format!("{}.cache.tsv", sc.name.replace('/', "_")));
    std::fs::write(&path, text).expect("write cache");
    Some(path.display().to_string())
}

/// One `uidlmap verify --format tsv --retries 0 --timeout <timeout_s>` against `s`,
/// with the scenario's plugin settings; returns the output and its duration.
pub fn verify(
    s: &FakeServers,
    sc: &Scenario,
    cache: Option<&str>,
    timeout_s: u64,
) -> (Out, Duration) {
    let mut cmd = command();
    cmd.args([
        "verify",
        "--imap",
        &format!("imap://{}@{}", sc.world.user, s.imap()),
        "--pop3",
        &format!("pop3://{}@{}", sc.world.user, s.pop3()),
        "--retries",
        "0",
        "--timeout",
        &timeout_s.to_string(),
        "--connect-timeout",
        "2",
        "--format",
        "tsv",
    ]);
    for (k, v) in scenario_settings(sc) {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    if let Some(c) = cache {
        cmd.args(["--cache", c]);
    }
    cmd.env("UIDLMAP_PASSWORD", &sc.world.password);
    let started = Instant::now();
    let out = output(&mut cmd);
    (out, started.elapsed())
}

/// The scenario's plugin settings as `--set` options.
pub fn scenario_settings(sc: &Scenario) -> Vec<(String, String)> {
    let s = &sc.settings;
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    vec![
        ("skip_size_check".into(), yes(s.skip_size_check)),
        ("skip_uidl_cache".into(), yes(s.skip_uidl_cache)),
        ("ignore_missing_uidls".into(), yes(s.ignore_missing_uidls)),
        ("ignore_extra_uidls".into(), yes(s.ignore_extra_uidls)),
        ("all_mailboxes".into(), yes(s.all_mailboxes)),
    ]
}

/// The exit codes `uidlmap --help` documents: 0, 1 and the sysexits.h codes (a Rust
/// panic exits 101, a signal shows as a negative code here).
pub fn documented(code: i32) -> bool {
    matches!(code, 0 | 1 | 64..=78)
}
