//! The measurements behind `docs/dovecot-versions.md`: real Dovecot 2.3.19.1 and 2.4.1
//! run against the fake servers, and what each printed, stored and exited with.
//!
//! They are `#[ignore]`d (a few dozen doveadm runs, and their output is for reading):
//! `cargo test --test dovecot_versions -- --ignored --nocapture --test-threads 1`.
//! Each prints one block per run; nothing here asserts what the model should be.

use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;
use uidlmap::conformance;
use uidlmap::domain::{DovecotVersion, ImapcProfile, ProfileChoice};
use uidlmap::dovecot::{OracleOptions, OracleRun, run_backup};
use uidlmap::scenario::{Scenario, load_file, run};
use uidlmap::secret::Secret;
use uidlmap::tls::Security;

fn scenario(rel: &str) -> Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    load_file(&root.join("scenarios").join(rel)).expect("the scenario loads")
}

fn usable() -> bool {
    for v in DovecotVersion::ALL {
        if let Some(why) = v.unavailable_reason() {
            println!("skipped: dovecot_versions: Dovecot {v} is not usable here: {why}");
            return false;
        }
    }
    true
}

async fn backup(
    sc: &Scenario,
    version: DovecotVersion,
    adjust: impl FnOnce(&mut OracleOptions),
) -> OracleRun {
    let pop3_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ca = run::needs_tls(sc).then(|| fake_servers::tls::TestCa::generate().expect("a test CA"));
    let served = run::serve(sc, pop3_l, imap_l, ca).expect("fake servers start");
    let ca_file = served.ca.as_ref().map(|ca| {
        let f = tempfile::NamedTempFile::new().expect("a CA file");
        std::fs::write(f.path(), &ca.ca_pem).expect("write the CA");
        f
    });
    let mut o = OracleOptions::same_account(
        "127.0.0.1",
        served.imap.port(),
        served.pop3.port(),
        &sc.world.user,
        Secret::new(sc.world.password.clone()),
    );
    o.version = version;
    o.settings = sc.settings.clone();
    o.timeout = Duration::from_secs(40);
    o.ca_file = ca_file.as_ref().map(|f| f.path().to_path_buf());
    if sc.knobs.imap.starttls {
        o.imap.security = Security::StartTls;
    }
    if sc.knobs.pop3.stls {
        o.pop3.security = Security::StartTls;
    }
    adjust(&mut o);
    let run = tokio::task::spawn_blocking(move || run_backup(o))
        .await
        .expect("the oracle thread")
        .expect("doveadm ran");
    served.stop().await;
    drop(ca_file);
    run
}

/// Error, warning, fatal and panic lines, and the plugin's own, without debug noise.
fn notable(run: &OracleRun) -> Vec<&str> {
    run.log
        .iter()
        .filter(|l| {
            ["Error:", "Warning:", "Fatal:", "Panic:"]
                .iter()
                .any(|lvl| l.contains(lvl))
                || l.contains("pop3_migration: ")
        })
        .filter(|l| !l.contains("open(/proc/self/stat)"))
        .map(String::as_str)
        .collect()
}

fn print_run(title: &str, run: &OracleRun) {
    println!("== {title}: Dovecot {} exit {}", run.version, run.exit_code);
    let rows: Vec<String> = run
        .messages
        .iter()
        .map(|m| format!("{}/{}={}#{}", m.mailbox, m.uid, m.pop3_uidl, m.pop3_order))
        .collect();
    println!("   stored: [{}]", rows.join(" "));
    let pop3: Vec<&str> = run
        .pop3c_rawlog
        .sent
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("PASS"))
        .collect();
    println!("   pop3c sent: {}", pop3.join(" | "));
    let imap: Vec<&str> = run
        .imapc_rawlog
        .sent
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains("FETCH") && !l.contains("(FLAGS"))
        .collect();
    println!("   imapc fetches: {}", imap.join(" | "));
    for l in notable(run) {
        println!("   log: {l}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_boolean_spellings() {
    if !usable() {
        return;
    }
    let sc = scenario("basic/identical.yaml");
    let spellings = [
        "yes", "y", "1", "no", "n", "true", "on", "off", "0", "false", "", "Yes", "YES", "Y", "No",
        "NO", "N", "True", "On", "Off", "FALSE", "\"\"", "\"yes\"", "\"off\"", "2", "x",
    ];
    for version in DovecotVersion::ALL {
        for value in spellings {
            let run = backup(&sc, version, |o| {
                o.raw_settings = vec![("skip_size_check".into(), value.into())];
            })
            .await;
            let list = run.pop3c_rawlog.sent.iter().any(|l| l == "LIST");
            let s = run.summaries();
            let counters = s
                .first()
                .map(|s| {
                    format!(
                        "size matches={} headers={:?}",
                        s.size_matches, s.matched_by_headers
                    )
                })
                .unwrap_or_else(|| "no counters".into());
            let first = notable(&run)
                .into_iter()
                .find(|l| l.contains("Fatal:") || l.contains("Error:"))
                .unwrap_or("")
                .to_string();
            println!(
                "{version} skip_size_check = {value:<7} exit {:>3} stored {} LIST sent {list:<5} {counters}  {first}",
                run.exit_code,
                run.messages.len(),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_configuration_and_login_failures() {
    if !usable() {
        return;
    }
    let sc = scenario("basic/identical.yaml");
    let v24 = DovecotVersion::V2_4;
    let lines = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    for (title, imapc) in [
        (
            "2.3 recipe line",
            lines(&["imapc_features = rfc822.size fetch-headers"]),
        ),
        (
            "fetch-headers alone",
            lines(&["imapc_features = fetch-headers"]),
        ),
        (
            "no-fetch-size mixed case",
            lines(&["imapc_features = No-Fetch-Size"]),
        ),
        ("imapc_features empty", lines(&["imapc_features ="])),
    ] {
        let run = backup(&sc, v24, |o| o.imapc_lines = imapc).await;
        print_run(title, &run);
    }
    for version in DovecotVersion::ALL {
        let run = backup(&sc, version, |o| o.imap.password = Secret::new("wrong")).await;
        print_run("IMAP login failure", &run);
        let run = backup(&sc, version, |o| o.pop3.password = Secret::new("wrong")).await;
        print_run("POP3 login failure", &run);
    }
    let run = backup(&sc, v24, |o| {
        o.extra_config = vec!["imapc_user = %u".into()]
    })
    .await;
    print_run("imapc_user = %u", &run);
    let run = backup(&sc, v24, |o| {
        o.extra_config = vec![
            "plugin {".into(),
            "  pop3_migration_all_mailboxes = no".into(),
            "}".into(),
        ];
    })
    .await;
    print_run("a plugin { } block", &run);
    let run = backup(&sc, v24, |o| {
        o.raw_settings = vec![("mailbox".into(), String::new())];
    })
    .await;
    print_run("pop3_migration_mailbox empty", &run);
}

/// Every scenario uidlmap can serve to Dovecot without seeding a cache, under both
/// versions and each profile, compared with uidlmap's (2.3) prediction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_scenarios_under_both_versions() {
    if !usable() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = conformance::load(&[root]).expect("scenarios/ loads");
    let (mut agree, mut differ) = (0, 0);
    for sc in &scenarios {
        if conformance::not_runnable(sc).is_some() || !sc.cache.is_empty() || run::needs_tls(sc) {
            println!("-- {}: not run (cache, TLS or STLS)", sc.name);
            continue;
        }
        for profile in conformance::profiles(sc, ProfileChoice::Both, DovecotVersion::V2_3) {
            let predicted = match run::predict(
                sc,
                profile,
                DovecotVersion::V2_3,
                Duration::from_secs(30),
            )
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    println!("-- {}: no prediction: {e}", sc.name);
                    continue;
                }
            };
            let oracle_profile = profile;
            let mut runs = Vec::new();
            for version in DovecotVersion::ALL {
                runs.push(backup(sc, version, |o| o.profile = oracle_profile).await);
            }
            for run in &runs {
                let diffs = conformance::compare(&predicted, run);
                let name = format!("{} {oracle_profile:?} under {}", sc.name, run.version);
                if diffs.is_empty() {
                    agree += 1;
                    println!("agree: {name} (exit {})", run.exit_code);
                } else {
                    differ += 1;
                    println!("DIFFER: {name}");
                    for d in diffs {
                        println!("   {d}");
                    }
                    for l in notable(run) {
                        println!("   log: {l}");
                    }
                }
            }
            let warn = |r: &OracleRun| -> Vec<String> {
                notable(r)
                    .into_iter()
                    .filter(|l| l.contains("pop3_migration") && !l.contains("Debug:"))
                    .map(|l| l.to_string())
                    .collect()
            };
            for (a, b) in warn(&runs[0]).iter().zip(warn(&runs[1]).iter()) {
                if a != b {
                    println!("   2.3 log: {a}\n   2.4 log: {b}");
                }
            }
        }
    }
    println!("{agree} runs agree with the 2.3 prediction, {differ} differ");
}

/// 2.4's defaults against 2.3's, where the two sizes differ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_default_sizing() {
    if !usable() {
        return;
    }
    for rel in [
        "sizes/rfc822-size-lf.yaml",
        "providers/exchange.yaml",
        "providers/exchange-2010-flagged.yaml",
    ] {
        let sc = scenario(rel);
        for (version, variant) in [
            (DovecotVersion::V2_3, "defaults"),
            (DovecotVersion::V2_3, "docs"),
            (DovecotVersion::V2_4, "defaults"),
            (DovecotVersion::V2_4, "docs"),
            (DovecotVersion::V2_4, "bare"),
        ] {
            let run = backup(&sc, version, |o| match variant {
                "defaults" => o.imapc_lines = Some(vec![]),
                "docs" => o.profile = ImapcProfile::Docs,
                _ => o.profile = ImapcProfile::Bare,
            })
            .await;
            print_run(&format!("{rel} {variant}"), &run);
            for c in run.summaries() {
                println!("   counters: {c:?}");
            }
        }
    }
}

/// An event tied to the size fetch: with the recipe every size comes in one command, so
/// the expunge lands after all sizes; with 2.4's defaults (prefetch 0) the sizes come one
/// UID a command, so it lands after the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_event_tied_to_size_fetch() {
    if !usable() {
        return;
    }
    let yaml = "description: m2 is deleted through IMAP right after the first size fetch.
imapc: docs
messages:
  m1: { subject: Keep me, size: 1100 }
  m2: { subject: Delete me, size: 1200 }
  m3: { subject: Keep me too, size: 1300 }
imap:
  mailboxes:
    INBOX: [m1, m2, m3]
events:
  - after: imap.fetch_sizes
    expunge: { message: m2, imap: yes }
expect: { outcome: success }
";
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("expunge-after-size-fetch.yaml");
    std::fs::write(&path, yaml).expect("write the scenario");
    let sc = load_file(&path).expect("the scenario loads");
    for (version, variant) in [
        (DovecotVersion::V2_3, "docs"),
        (DovecotVersion::V2_4, "docs"),
        (DovecotVersion::V2_4, "defaults"),
    ] {
        let run = backup(&sc, version, |o| match variant {
            "defaults" => o.imapc_lines = Some(vec![]),
            _ => o.profile = ImapcProfile::Docs,
        })
        .await;
        print_run(&format!("expunge after the size fetch, {variant}"), &run);
    }
}

/// The scenarios with a UIDL `cache:`, under both versions: a seeding run whose POP3 side
/// lists INBOX's cached messages under their cached UIDLs fills imapc's on-disk index
/// (`imapc:~/imapc` in a kept work directory, inside the 2.4 root for 2.4), the
/// destination Maildir is emptied, then the real run; compared with uidlmap's prediction
/// as `conformance` compares (it seeds the same way, for 2.3 only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_cache_scenarios_under_both_versions() {
    if !usable() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = conformance::load(&[root]).expect("scenarios/ loads");
    for sc in scenarios.iter().filter(|s| !s.cache.is_empty()) {
        if let Some(why) = conformance::not_runnable(sc) {
            println!("-- {}: not run: {why}", sc.name);
            continue;
        }
        for profile in conformance::profiles(sc, ProfileChoice::Both, DovecotVersion::V2_3) {
            let predicted =
                run::predict(sc, profile, DovecotVersion::V2_3, Duration::from_secs(30))
                    .await
                    .expect("uidlmap predicts");
            let oracle_profile = profile;
            for version in DovecotVersion::ALL {
                let scratch = version.scratch_dir();
                let dir = tempfile::Builder::new()
                    .prefix("uidlmap-measure-cache")
                    .tempdir_in(&scratch)
                    .expect("a work directory");
                let wd = dir.path().to_path_buf();
                let seed = conformance::seeding_scenario(sc);
                let first = backup(&seed, version, |o| {
                    o.settings = uidlmap::matcher::Settings::enabled();
                    o.profile = oracle_profile;
                    o.workdir = Some(wd.clone());
                    o.imapc_location = "imapc:~/imapc".into();
                })
                .await;
                let name = format!("{} {oracle_profile:?} under {version}", sc.name);
                if first.exit_code != 0 {
                    println!("DIFFER: {name}: the seeding run exited {}", first.exit_code);
                    continue;
                }
                std::fs::remove_dir_all(wd.join("home/Maildir")).expect("empty the Maildir");
                let real = backup(sc, version, |o| {
                    o.profile = oracle_profile;
                    o.workdir = Some(wd.clone());
                    o.imapc_location = "imapc:~/imapc".into();
                })
                .await;
                let diffs = conformance::compare(&predicted, &real);
                if diffs.is_empty() {
                    println!("agree: {name} (exit {})", real.exit_code);
                } else {
                    println!("DIFFER: {name}");
                    for d in diffs {
                        println!("   {d}");
                    }
                }
                for l in notable(&real) {
                    println!("   log: {l}");
                }
            }
        }
    }
}

/// imapc over STARTTLS and pop3c over STLS, trusting the run's test CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints what real Dovecot does"]
async fn measure_tls() {
    if !usable() {
        return;
    }
    let mut imap_tls = scenario("order/reversed.yaml");
    imap_tls.knobs.imap.starttls = true;
    let mut pop3_tls = scenario("order/reversed.yaml");
    pop3_tls.knobs.pop3.stls = true;
    for version in DovecotVersion::ALL {
        let run = backup(&imap_tls, version, |o| o.profile = ImapcProfile::Docs).await;
        print_run("imapc STARTTLS", &run);
        let started = std::time::Instant::now();
        let run = backup(&pop3_tls, version, |o| o.profile = ImapcProfile::Docs).await;
        print_run(
            &format!("pop3c STLS ({:.1} s)", started.elapsed().as_secs_f64()),
            &run,
        );
    }
}
