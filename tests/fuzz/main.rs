//! Mutation fuzzing on the stable toolchain (cargo-fuzz needs nightly): every parser
//! that reads a peer's or a user's bytes, driven by a small deterministic mutator over
//! seeds taken from real transcripts and files. `cargo test` runs each harness about a
//! second plus every kept regression input; `.ci/run` gives them a longer budget with
//! `UIDLMAP_FUZZ_SECS`. See `tests/README.md` ("Fuzzing") for long local runs.
//!
//! - `runner`: budgets, hang watchdog, time and memory bounds, crash files.
//! - `mutate`: the mutator; `alloc`: the counting allocator behind the memory bound.
//! - `sessions`: recorded client/server sessions (seeds), shared client sessions.
//! - `codecs`, `clients`, `servers`, `header_hash`, `scenario`, `dovecot_conf`: the
//!   harnesses.
//! - `drip`: long lines in tiny reads cost linear time (no rescans per read).

mod alloc;
mod clients;
mod codecs;
mod dovecot_conf;
mod drip;
mod header_hash;
mod mutate;
mod runner;
mod scenario;
mod servers;
mod sessions;

#[test]
fn pop3_codec() {
    runner::run(codecs::pop3());
}

#[test]
fn imap_codec() {
    runner::run(codecs::imap());
}

#[test]
fn pop3_client() {
    runner::run(clients::pop3());
}

#[test]
fn imap_client() {
    runner::run(clients::imap());
}

#[test]
fn pop3_server() {
    runner::run(servers::pop3());
}

#[test]
fn imap_server() {
    runner::run(servers::imap());
}

#[test]
fn header_hash() {
    runner::run(header_hash::harness());
}

#[test]
fn scenario_load() {
    runner::run(scenario::harness());
}

#[test]
fn dovecot_conf() {
    runner::run(dovecot_conf::harness());
}

// Compares times, so it runs alone: in `.ci/run`'s fuzz step (one test at a time), or
// `cargo test --test fuzz -- --ignored --test-threads=1`. Beside other tests a busy
// core makes the ratio noise.
#[test]
#[ignore = "timing: run alone (.ci/run's fuzz step)"]
fn drip_pop3_linear() {
    drip::pop3();
}

// Compares times, so it runs alone: in `.ci/run`'s fuzz step (one test at a time), or
// `cargo test --test fuzz -- --ignored --test-threads=1`. Beside other tests a busy
// core makes the ratio noise.
#[test]
#[ignore = "timing: run alone (.ci/run's fuzz step)"]
fn drip_imap_linear() {
    drip::imap();
}
