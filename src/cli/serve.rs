//! `uidlmap serve`: serve one scenario's world over real POP3 and IMAP until interrupted,
//! so that any client — Dovecot's dsync included — can be pointed at it.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use fake_servers::imap::{self as fimap, TlsMode};
use fake_servers::pop3::{self as fpop3, Pop3Tls};
use fake_servers::tls::TestCa;
use serde_json::json;
use tokio::net::TcpListener;
use uidlmap::scenario::{self, run as scenario_run};

use super::bad_input;

/// The long `--help` text of `uidlmap serve`.
pub const LONG_ABOUT: &str = "\
Serve a scenario's world until interrupted (Ctrl-C or SIGTERM), with its profile, quirks, \
faults and timeline events applied to the served sessions as `uidlmap run` applies them. \
When ready, prints one JSON line on stdout: {\"pop3\":\"HOST:PORT\",\"imap\":\"HOST:PORT\",\
\"user\":...,\"password\":...,\"settings\":{...}} where settings holds the scenario's \
plugin settings under Dovecot's full names, ready to paste into a Dovecot configuration. \
With --tls, POP3S and IMAPS listeners are added (\"pop3s\", \"imaps\"), STLS and STARTTLS \
are offered on the plain ports, and \"ca_file\" names the test CA to trust. The password \
printed is the scenario's own, not a secret of yours. Listens on 127.0.0.1 unless told \
otherwise.";

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

    /// Delay every byte this long each way, as a far provider does (`25ms`: a 50 ms
    /// round trip); overrides the scenario's `latency_ms`
    #[arg(long, value_name = "DURATION", value_parser = parse_latency)]
    pub latency: Option<std::time::Duration>,
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

async fn bind(ip: IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(ip, port))
        .await
        .with_context(|| format!("listening for {what} on {ip} port {port}"))
        .map_err(bad_input)
}

async fn serve(args: &ServeArgs, sc: &scenario::Scenario) -> anyhow::Result<()> {
    let pop3 = bind(args.listen, args.pop3_port, "POP3").await?;
    let imap = bind(args.listen, args.imap_port, "IMAP").await?;
    let ca = if args.tls || scenario_run::needs_tls(sc) {
        Some(TestCa::generate().context("making the test CA")?)
    } else {
        None
    };
    let mut knobs = sc.knobs.clone();
    if args.tls {
        knobs.pop3.stls = true;
        knobs.imap.starttls = true;
    }
    if let Some(l) = args.latency {
        let ms = Some(l.as_millis() as u64);
        knobs.pop3.latency_ms = ms;
        knobs.imap.latency_ms = ms;
    }
    let mut with_knobs = sc.clone();
    with_knobs.knobs = knobs;
    let served = scenario_run::serve(&with_knobs, pop3, imap, ca.clone())?;

    let mut line = json!({
        "pop3": served.pop3.to_string(),
        "imap": served.imap.to_string(),
        "user": sc.world.user,
        "password": sc.world.password,
        "settings": sc.settings.dovecot_pairs().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    });
    // The CA file lives as long as we serve.
    let mut _ca_dir = None;
    let mut tls_tasks = Vec::new();
    if let (true, Some(ca)) = (args.tls, &ca) {
        let dir = tempfile::tempdir().context("making a folder for the CA file")?;
        let ca_file = dir.path().join("uidlmap-test-ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem).context("writing the CA file")?;
        let pop3s = bind(args.listen, 0, "POP3S").await?;
        let imaps = bind(args.listen, 0, "IMAPS").await?;
        line["pop3s"] = json!(pop3s.local_addr()?.to_string());
        line["imaps"] = json!(imaps.local_addr()?.to_string());
        line["ca_file"] = json!(ca_file.display().to_string());
        let (mut p_opts, mut i_opts) = scenario_run::server_options(&with_knobs.knobs, Some(ca));
        p_opts.tls = Pop3Tls::Implicit(ca.acceptor());
        i_opts.tls = TlsMode::Implicit(ca.clone());
        tls_tasks.push(tokio::spawn(fpop3::serve(
            pop3s,
            served.world.clone(),
            served.script.clone(),
            p_opts,
            std::future::pending(),
        )));
        tls_tasks.push(tokio::spawn(fimap::serve(
            imaps,
            served.world.clone(),
            served.script.clone(),
            i_opts,
            std::future::pending(),
        )));
        _ca_dir = Some(dir);
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    shutdown_signal().await;
    for t in tls_tasks {
        t.abort();
    }
    served.stop().await;
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
