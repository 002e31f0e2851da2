//! `uidlmap serve`: serve one scenario's world over real POP3 and IMAP until interrupted,
//! so that any client — Dovecot's dsync included — can be pointed at it.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use fake_servers::ServeError;
use serde_json::json;
use uidlmap::scenario::{self, serve as scenario_serve};

use super::bad_input;
use super::exit::{Exit, marked};

/// The long `--help` text of `uidlmap serve`.
pub const LONG_ABOUT: &str = "\
Serve a scenario's world until interrupted (Ctrl-C or SIGTERM), with its profile, quirks, \
faults and timeline events applied to the served sessions as `uidlmap run` applies them. \
When ready, prints one JSON line on stdout: {\"pop3\":\"HOST:PORT\",\"imap\":\"HOST:PORT\",\
\"user\":...,\"password\":...,\"settings\":{...}} where settings holds the scenario's \
plugin settings under Dovecot's full names, ready to paste into a Dovecot configuration. \
With --tls, POP3S and IMAPS listeners are added (\"pop3s\", \"imaps\"; --pop3s-port and \
--imaps-port choose their ports), STLS and STARTTLS are offered on the plain ports, and \
\"ca_file\" names the test CA to trust: a temporary file removed when serve exits, or \
the --ca-out file, which is kept. The certificate names localhost, 127.0.0.1 and ::1; \
clients that do not match IP addresses in certificates (isync) must connect to \
localhost. The password printed is the scenario's own, not a secret of yours. Listens on \
127.0.0.1 unless told otherwise.";

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The scenario file
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: IpAddr,

    /// POP3 port (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub pop3_port: u16,

    /// IMAP port (0: any free port)
    #[arg(long, default_value_t = 0)]
    pub imap_port: u16,

    /// Also serve POP3S and IMAPS, and offer STLS/STARTTLS, with a fresh test CA
    #[arg(long)]
    pub tls: bool,

    /// POP3S port with --tls (0: any free port)
    #[arg(long, default_value_t = 0, requires = "tls")]
    pub pop3s_port: u16,

    /// IMAPS port with --tls (0: any free port)
    #[arg(long, default_value_t = 0, requires = "tls")]
    pub imaps_port: u16,

    /// With --tls, write the test CA (PEM) to FILE and keep it after serve exits
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_out: Option<PathBuf>,

    /// Delay every byte this long each way, as a far provider does (`25ms`: a 50 ms
    /// round trip); overrides the scenario's `latency_ms`
    #[arg(long, value_name = "DURATION", value_parser = parse_latency)]
    pub latency: Option<std::time::Duration>,

    /// Carry at most this much a second each way (`10MB/s`, `500KB/s`; 1 KB = 1,000
    /// bytes; at least 1 KB/s); overrides the scenario's `bandwidth_kb_s`
    #[arg(long, value_name = "RATE", value_parser = parse_bandwidth)]
    pub bandwidth: Option<u64>,
}

/// `10MB/s`, `500KB/s`, `1GB/s` (the `/s` may be left out) as kilobytes a second.
fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let upper = t.to_ascii_uppercase();
    let (number, kb) = if let Some(n) = upper.strip_suffix("GB") {
        (n, 1e6)
    } else if let Some(n) = upper.strip_suffix("MB") {
        (n, 1e3)
    } else if let Some(n) = upper.strip_suffix("KB") {
        (n, 1.0)
    } else {
        return Err(format!("{text:?} is not a rate such as 10MB/s"));
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a rate such as 10MB/s"))?;
    let kb = v * kb;
    if !(1.0..=1e9).contains(&kb) {
        return Err(format!(
            "{text:?}: a rate between 1KB/s and 1000GB/s, please"
        ));
    }
    Ok(kb.round() as u64)
}

/// `25ms`, `0.05s`, `1s` or a bare number of milliseconds.
fn parse_latency(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(ms) = t.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = t.strip_suffix('s') {
        (s, 1.0)
    } else {
        (t, 1e-3)
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 25ms"))?;
    if !(0.0..=60.0).contains(&(v * scale)) {
        return Err(format!("{text:?}: a latency between 0 and 60 s, please"));
    }
    Ok(std::time::Duration::from_secs_f64(v * scale))
}

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let sc = scenario::load_file(&args.scenario).map_err(bad_input)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args, &sc))
}

async fn serve(args: &ServeArgs, sc: &scenario::Scenario) -> anyhow::Result<()> {
    let mut sc = sc.clone();
    if let Some(l) = args.latency {
        let ms = Some(l.as_millis() as u64);
        sc.knobs.pop3.latency_ms = ms;
        sc.knobs.imap.latency_ms = ms;
    }
    if let Some(kb) = args.bandwidth {
        sc.knobs.pop3.bandwidth_kb_s = Some(kb);
        sc.knobs.imap.bandwidth_kb_s = Some(kb);
    }
    let sc = &sc;
    let servers = scenario_serve::servers(sc)
        .context("making the test CA")?
        .listen(args.listen)
        .ports(args.pop3_port, args.imap_port)
        .tls(args.tls)
        .tls_ports(args.pop3s_port, args.imaps_port)
        .start()
        .map_err(|e| match e {
            // The port is taken or not ours to bind: nothing to serve on.
            ServeError::Bind { .. } => marked(Exit::Unavailable, e),
            other => anyhow::Error::new(other),
        })?;

    let mut line = json!({
        "pop3": servers.pop3().to_string(),
        "imap": servers.imap().to_string(),
        "user": sc.world.user,
        "password": sc.world.password,
        "settings": sc.settings.dovecot_pairs().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    });
    // A temporary CA file lives as long as we serve; a --ca-out file outlives us.
    let mut _ca_dir = None;
    if let (Some(pop3s), Some(imaps)) = (servers.pop3s(), servers.imaps()) {
        let ca_file = match &args.ca_out {
            Some(path) => path.clone(),
            None => {
                let dir = tempfile::tempdir().context("making a folder for the CA file")?;
                let path = dir.path().join("uidlmap-test-ca.pem");
                _ca_dir = Some(dir);
                path
            }
        };
        servers
            .write_ca(&ca_file)
            .with_context(|| format!("writing the CA file {}", ca_file.display()))
            .map_err(|e| marked(Exit::IoErr, e))?;
        line["pop3s"] = json!(pop3s.to_string());
        line["imaps"] = json!(imaps.to_string());
        line["ca_file"] = json!(ca_file.display().to_string());
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    shutdown_signal().await;
    servers.stop().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bandwidth;

    #[test]
    fn bandwidth_rates() {
        assert_eq!(parse_bandwidth("10MB/s"), Ok(10_000));
        assert_eq!(parse_bandwidth("500kb/s"), Ok(500));
        assert_eq!(parse_bandwidth("1GB"), Ok(1_000_000));
        assert_eq!(parse_bandwidth("1.5MB/s"), Ok(1_500));
        assert!(parse_bandwidth("10").is_err());
        assert!(parse_bandwidth("0KB/s").is_err());
        assert!(parse_bandwidth("fast").is_err());
    }
}
