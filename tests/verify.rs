//! `uidlmap verify` and `migrate::fast_read`: the fast reader against the Dovecot-order
//! reader on every scenario, and the command against fake and real servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_servers::tls::TestCa;
use tokio::net::TcpListener;
use uidlmap::matcher;
use uidlmap::migrate::{self, Endpoint, ImapcProfile, Migration, Source};
use uidlmap::report;
use uidlmap::scenario::{self, Scenario, run as scenario_run};
use uidlmap::secret::Secret;
use uidlmap::tls::{Security, Trust};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn source_of(sc: &Scenario, served: &scenario_run::Served) -> Source {
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
    Source {
        imap: endpoint(served.imap, sc.knobs.imap.starttls),
        pop3: endpoint(served.pop3, sc.knobs.pop3.stls),
        trust: match &served.ca {
            Some(ca) => Trust::only(ca.ca_der.clone()),
            None => Trust::default(),
        },
    }
}

/// Serves the scenario afresh and reads it with `fast` or Dovecot's order.
async fn read(sc: &Scenario, profile: ImapcProfile, fast: bool) -> Result<Migration, String> {
    let ca = scenario_run::needs_tls(sc).then(|| TestCa::generate().expect("test CA"));
    let pop3_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let imap_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let served = scenario_run::serve(sc, pop3_l, imap_l, ca).expect("serve");
    let source = source_of(sc, &served);
    let mut opts = migrate::Options::new(sc.settings.clone(), profile);
    opts.command_timeout = Duration::from_secs(10);
    opts.connect_timeout = Duration::from_secs(5);
    for (mailbox, uids) in &sc.cache {
        for (uid, uidl) in uids {
            opts.cache.insert((mailbox.clone(), *uid), uidl.clone());
        }
    }
    let m = if fast {
        migrate::fast_read(&source, &opts).await
    } else {
        migrate::dovecot_order(&source, &opts).await
    };
    served.stop().await;
    m.map_err(|e| e.to_string())
}

fn answer(sc: &Scenario, m: &Migration) -> report::DovecotReport {
    let plan = matcher::plan(&m.listing, &sc.settings);
    let outcome = matcher::resolve(&plan, &m.reads).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
    report::build(&sc.name, None, "x", &outcome, None, &|_, _| None).dovecot
}

/// On every scenario whose servers do not act on the order of commands (no fault rules,
/// no timeline events), the fast reader gives the same listing, the same answer and the
/// same reads of every header as Dovecot's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_read_answers_as_dovecot_order_on_every_scenario() {
    let files = scenario::discover(&[root().join("scenarios")]).expect("discover");
    let mut compared = 0;
    for f in files {
        let sc = scenario::load_file(&f).unwrap_or_else(|e| panic!("{e}"));
        if !sc.rules.is_empty() || !sc.events.is_empty() {
            continue;
        }
        for &choice in sc.imapc.concrete() {
            let profile = match choice {
                scenario::ImapcProfile::Bare => ImapcProfile::Bare,
                _ => ImapcProfile::Docs,
            };
            let limit = Duration::from_secs(30);
            let slow = tokio::time::timeout(limit, read(&sc, profile, false))
                .await
                .expect("dovecot_order in time");
            let fast = tokio::time::timeout(limit, read(&sc, profile, true))
                .await
                .expect("fast_read in time");
            match (slow, fast) {
                (Ok(slow), Ok(fast)) => {
                    assert_eq!(slow.listing, fast.listing, "{}: listing", sc.name);
                    assert_eq!(answer(&sc, &slow), answer(&sc, &fast), "{}", sc.name);
                    assert_eq!(slow.all, fast.all, "{}: every header", sc.name);
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{}", sc.name),
                (a, b) => panic!(
                    "{}: dovecot_order {:?} but fast_read {:?}",
                    sc.name,
                    a.err(),
                    b.err()
                ),
            }
            compared += 1;
        }
    }
    assert!(compared >= 30, "only {compared} scenarios compared");
}
