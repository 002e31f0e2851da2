//! Reruns the build (and so re-expands the one-test-per-scenario list of
//! `tests/scenarios.rs`) whenever a file under `scenarios/` is added, removed or changed.

fn main() {
    println!("cargo::rerun-if-changed=scenarios");
}
