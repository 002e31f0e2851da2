//! A scenario's world on the fake servers from a library call, without the CLI: the
//! world, its script (faults, timeline events) and the server options its knobs ask for,
//! as `uidlmap run` and `uidlmap serve` serve it.
//!
//! ```
//! # tokio_test::block_on(async {
//! use std::path::Path;
//!
//! let (scenario, servers) =
//!     uidlmap::scenario::serve::start_file(Path::new("scenarios/basic/identical.yaml"), false)?;
//! assert_eq!(scenario.world.pop3.messages.len(), 3);
//! // Point any client at servers.pop3() and servers.imap(); both stop on drop.
//! # let _ = servers.imap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::path::Path;

use fake_servers::tls::{TestCa, TlsError};
use fake_servers::{FakeServers, Servers};

use super::{Scenario, ScenarioError, run};

/// Why a scenario could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error("making the test CA: {0}")]
    Ca(#[from] TlsError),
    #[error("{0}")]
    Servers(#[from] fake_servers::ServeError),
}

/// The fake servers of a scenario, ready to [`Servers::start`]: a fresh copy of its world,
/// its script, the options of its server knobs, and a test CA when those knobs offer
/// STLS or STARTTLS. Address, ports and TLS can still be changed.
pub fn servers(sc: &Scenario) -> Result<Servers, TlsError> {
    let ca = if run::needs_tls(sc) {
        Some(TestCa::generate()?)
    } else {
        None
    };
    let (pop3, imap) = run::server_options(&sc.knobs, ca.as_ref());
    let servers = Servers::shared(sc.shared_world())
        .script(sc.script())
        .pop3_options(pop3)
        .imap_options(imap);
    Ok(match ca {
        Some(ca) => servers.ca(ca),
        None => servers,
    })
}

/// Loads a scenario file and starts its servers on 127.0.0.1, any free ports; with
/// `tls`, STLS/STARTTLS are offered and POP3S/IMAPS ports added. Must be called inside
/// a Tokio runtime.
pub fn start_file(path: &Path, tls: bool) -> Result<(Scenario, FakeServers), ServeError> {
    let sc = super::load_file(path)?;
    let servers = servers(&sc)?.tls(tls).start()?;
    Ok((sc, servers))
}
