//! `uidlmap verify`: read a live provider's IMAP and POP3 services (fast, both at once),
//! predict UIDL by UIDL what Dovecot's pop3-migration plugin would store, audit that
//! against the messages' content, and recommend settings.

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use uidlmap::domain::{Endpoint, ImapcProfile};
use uidlmap::matcher::{self, Settings};
use uidlmap::migrate::{self, Source};
use uidlmap::predict;
use uidlmap::report::{self, Report};
use uidlmap::retry::Retry;
use uidlmap::secret::Secret;
use uidlmap::tls::{Security, Trust};

use super::{bad_input, check_failed};

/// The long `--help` text of `uidlmap verify`.
pub const LONG_ABOUT: &str = "\
Check a live provider before the migration: log in to its IMAP and POP3 services, read \
every listing, size and header (both servers at once, deeply pipelined), and predict UIDL \
by UIDL what Dovecot 2.3.19's pop3-migration plugin would store. Unless --no-audit, every \
header is compared by content to say where Dovecot's answer would be wrong and which \
settings fix it. Nothing on the servers is changed (EXAMINE, BODY.PEEK, TOP and RETR only).

Passwords come from --password-file, from UIDLMAP_IMAP_PASSWORD / UIDLMAP_POP3_PASSWORD \
or UIDLMAP_PASSWORD, from imapc_password / pop3c_password in --dovecot-conf, or from a \
prompt on the terminal; never from the command line. TLS certificates are verified \
against the system's roots (plus --ca-file) unless --insecure.";

/// What `verify` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A summary for people: passes, Dovecot's log, the audit and the recommendation.
    Human,
    /// The full report as JSON.
    Json,
    /// The full report as YAML.
    Yaml,
    /// What Dovecot would store: `mailbox uid pop3_uidl pop3_order`, as `uidlmap run`.
    Tsv,
    /// The `P`/`O` fields Dovecot would write into each maildir's dovecot-uidlist.
    DovecotUidlist,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The old provider's IMAP service: imap://USER@HOST[:PORT] or imaps://…
    #[arg(long, value_name = "URL")]
    pub imap: Option<String>,

    /// The old provider's POP3 service: pop3://USER@HOST[:PORT] or pop3s://…
    #[arg(long, value_name = "URL")]
    pub pop3: Option<String>,

    /// Use STARTTLS (IMAP) and STLS (POP3) on imap:// and pop3:// URLs
    #[arg(long)]
    pub starttls: bool,

    /// A file whose first line is the password (for both servers)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// More trusted CA certificates (PEM); may be repeated
    #[arg(long, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,

    /// Accept any TLS certificate (DANGEROUS: anyone on the path can read the password)
    #[arg(long)]
    pub insecure: bool,

    /// A plugin setting, by Dovecot's name with or without `pop3_migration_`
    /// (e.g. skip_size_check=yes); may be repeated; overrides --dovecot-conf
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// A Dovecot configuration snippet to take the pop3_migration_* plugin settings and
    /// the imapc_*/pop3c_* host, port, user, password and SSL settings from
    #[arg(long, value_name = "FILE")]
    pub dovecot_conf: Option<PathBuf>,

    /// How imapc measures sizes [default: docs, or as imapc_features in --dovecot-conf]
    #[arg(long, value_enum)]
    pub imapc_profile: Option<ImapcProfile>,

    /// Read only what Dovecot reads; skip the audit of every header
    #[arg(long)]
    pub no_audit: bool,

    /// imapc's UIDL cache from an earlier run, as `--format tsv` writes it
    /// (`mailbox uid pop3_uidl pop3_order`): Dovecot's cached-UIDL pass uses it first
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,

    /// Verify many accounts: one `IMAP_URL POP3_URL [PASSWORD_FILE]` per line (`#`
    /// comments); results as JSON Lines, one object per account
    #[arg(long, value_name = "FILE", conflicts_with_all = ["imap", "pop3"])]
    pub accounts: Option<PathBuf>,

    /// Accounts verified at once (with --accounts)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Skip accounts already in --output (with --accounts)
    #[arg(long)]
    pub resume: bool,

    /// Take only the accounts whose index is I modulo N (with --accounts)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,

    /// Write the output to FILE (atomically) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Seconds to wait for a connection
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub connect_timeout: u64,

    /// Seconds to wait for each reply
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,

    /// Logins tried again after [IN-USE], [LOGIN-DELAY] or a dropped connection
    #[arg(long, default_value_t = 3)]
    pub retries: u32,

    /// Milliseconds before the first retry; doubled on each further one
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub retry_delay_ms: u64,
}

/// Which service a URL or setting is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Imap,
    Pop3,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Imap => "IMAP",
            Proto::Pop3 => "POP3",
        }
    }
}

/// Where to connect, as far as known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Target {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    security: Option<Security>,
}

/// Parses `scheme://USER@HOST[:PORT][/]`. The user may hold `@` (the last one splits)
/// and percent escapes; IPv6 hosts go in brackets.
/// The URL as errors show it: a password someone put in it replaced by `***`.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

fn parse_url(url: &str, proto: Proto) -> anyhow::Result<Target> {
    let shown = redact_url(url);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("{shown:?}: expected SCHEME://USER@HOST[:PORT]"))?;
    let (security, default_port) = match (proto, scheme.to_ascii_lowercase().as_str()) {
        (Proto::Imap, "imap") => (Security::Plain, 143),
        (Proto::Imap, "imaps") => (Security::Implicit, 993),
        (Proto::Pop3, "pop3" | "pop") => (Security::Plain, 110),
        (Proto::Pop3, "pop3s" | "pops") => (Security::Implicit, 995),
        _ => {
            let want = match proto {
                Proto::Imap => "imap or imaps",
                Proto::Pop3 => "pop3 or pop3s",
            };
            return Err(anyhow!("{shown:?}: the scheme must be {want}"));
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(anyhow!("{shown:?}: no path or query is allowed"));
    }
    let (user, hostport) = rest
        .rsplit_once('@')
        .ok_or_else(|| anyhow!("{shown:?}: no user: expected SCHEME://USER@HOST[:PORT]"))?;
    if user.contains(':') {
        return Err(anyhow!(
            "{shown:?}: a password does not belong in the URL; use --password-file, an environment variable or the prompt"
        ));
    }
    let user = percent_decode(user).with_context(|| format!("{shown:?}: the user"))?;
    if user.is_empty() {
        return Err(anyhow!("{shown:?}: empty user"));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("{shown:?}: unclosed '['"))?;
        match after {
            "" => (h.to_string(), None),
            p => (
                h.to_string(),
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| anyhow!("{shown:?}: bad port"))?,
                ),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(anyhow!("{shown:?}: empty host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| anyhow!("{shown:?}: bad port {p:?}"))?,
        None => default_port,
    };
    Ok(Target {
        host: Some(host),
        port: Some(port),
        user: Some(user),
        security: Some(security),
    })
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow!("bad percent escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| anyhow!("not UTF-8 after percent decoding"))
}

/// What a Dovecot configuration snippet says.
#[derive(Debug, Default)]
struct DovecotConf {
    /// `pop3_migration_*` plugin settings, with their lines.
    plugin: Vec<(usize, String, String)>,
    imap: Target,
    pop3: Target,
    imap_password: Option<Secret>,
    pop3_password: Option<Secret>,
    /// From `imapc_features`: whether `rfc822.size` is in it.
    profile: Option<ImapcProfile>,
}

/// Unquotes a value: `"a b"` → `a b` (with `\"` and `\\`); otherwise as written,
/// without a trailing comment.
fn conf_value(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if let Some(q) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.chars();
        loop {
            match chars.next() {
                None => return Err("unterminated quoted value".into()),
                Some('\\') => match chars.next() {
                    Some(c) => out.push(c),
                    None => return Err("unterminated quoted value".into()),
                },
                Some('"') => break,
                Some(c) => out.push(c),
            }
        }
        let after = chars.as_str().trim();
        if !after.is_empty() && !after.starts_with('#') {
            return Err(format!("unexpected {after:?} after the quoted value"));
        }
        Ok(out)
    } else {
        let v = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(i) => &raw[..i],
            None => raw,
        };
        Ok(v.trim().to_string())
    }
}

/// Parses the parts of a Dovecot configuration `uidlmap verify` needs: `key = value`
/// lines, `name [arg] {` … `}` blocks (settings in `plugin { }` only for the plugin),
/// `#` comments. Other settings are ignored. Errors name file:line.
fn parse_dovecot_conf(path: &Path, text: &str) -> anyhow::Result<DovecotConf> {
    let mut conf = DovecotConf::default();
    let mut blocks: Vec<String> = Vec::new();
    let err = |n: usize, msg: String| anyhow!("{}:{n}: {msg}", path.display());
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t == "}" {
            if blocks.pop().is_none() {
                return Err(err(n, "'}' without an open block".into()));
            }
            continue;
        }
        if t.starts_with('!') {
            return Err(err(
                n,
                format!("{t:?}: includes are not supported; give the settings in one file"),
            ));
        }
        if let Some(head) = t.strip_suffix('{') {
            let name = head.split_whitespace().next().unwrap_or("");
            if name.is_empty() || head.contains('=') {
                return Err(err(n, format!("bad block start {t:?}")));
            }
            blocks.push(name.to_string());
            continue;
        }
        let Some((key, raw)) = t.split_once('=') else {
            return Err(err(
                n,
                format!("expected `key = value` or a block, got {t:?}"),
            ));
        };
        let key = key.trim();
        let value = conf_value(raw).map_err(|m| err(n, m))?;
        let in_plugin = blocks.last().is_some_and(|b| b == "plugin");
        if key.starts_with(matcher::settings::PREFIX) {
            if !in_plugin {
                return Err(err(n, format!("{key} belongs in a `plugin {{ }}` block")));
            }
            let mut probe = Settings::enabled();
            probe.set(key, &value).map_err(|e| err(n, e.to_string()))?;
            conf.plugin.push((n, key.to_string(), value));
            continue;
        }
        if !blocks.is_empty() {
            continue;
        }
        let (target, password) = match key.split_once('_') {
            Some(("imapc", _)) => (&mut conf.imap, &mut conf.imap_password),
            Some(("pop3c", _)) => (&mut conf.pop3, &mut conf.pop3_password),
            _ => continue,
        };
        let field = key.split_once('_').map(|(_, f)| f).unwrap_or("");
        // `%u` and friends are per-user variables: the command line must give the value.
        let variable = value.contains('%');
        match field {
            "host" if !variable => target.host = Some(value),
            "port" => {
                target.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or_else(|| err(n, format!("{key}: bad port {value:?}")))?,
                )
            }
            "user" if !variable => target.user = Some(value),
            "password" if !variable => *password = Some(Secret::new(value)),
            "ssl" => {
                target.security = Some(match value.to_ascii_lowercase().as_str() {
                    "no" | "" => Security::Plain,
                    "imaps" | "pop3s" | "yes" => Security::Implicit,
                    "starttls" => Security::StartTls,
                    _ => {
                        return Err(err(
                            n,
                            format!("{key}: expected imaps, pop3s, starttls or no, got {value:?}"),
                        ));
                    }
                })
            }
            "features" if key == "imapc_features" => {
                let docs = value
                    .split_whitespace()
                    .any(|f| f.eq_ignore_ascii_case("rfc822.size"));
                conf.profile = Some(if docs {
                    ImapcProfile::Docs
                } else {
                    ImapcProfile::Bare
                });
            }
            _ => {}
        }
    }
    if let Some(open) = blocks.last() {
        return Err(anyhow!(
            "{}: the `{open} {{` block is never closed",
            path.display()
        ));
    }
    Ok(conf)
}

/// Reads a password on the terminal without echo.
fn prompt_password(label: &str) -> anyhow::Result<Secret> {
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no password given and no terminal to ask on (see --password-file)")?;
    let fd = tty.as_raw_fd();
    // SAFETY: fd is an open terminal for the duration; termios is plain data.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err(anyhow!("cannot read the terminal's settings"));
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    (&tty).write_all(format!("{label}: ").as_bytes())?;
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = io::BufReader::new(&tty).read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    read.context("reading the password")?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// The password for one service, from the first source that has one.
fn password(
    proto: Proto,
    file: Option<&Secret>,
    conf: Option<&Secret>,
    target: &str,
) -> anyhow::Result<Secret> {
    if let Some(p) = file {
        return Ok(p.clone());
    }
    let var = match proto {
        Proto::Imap => "UIDLMAP_IMAP_PASSWORD",
        Proto::Pop3 => "UIDLMAP_POP3_PASSWORD",
    };
    for v in [var, "UIDLMAP_PASSWORD"] {
        if let Ok(p) = std::env::var(v) {
            return Ok(Secret::new(p));
        }
    }
    if let Some(p) = conf {
        return Ok(p.clone());
    }
    prompt_password(&format!("{} password for {target}", proto.name()))
}

fn read_password_file(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(anyhow!(
            "{}: the first line (the password) is empty",
            path.display()
        ));
    }
    Ok(Secret::new(first.to_string()))
}

/// Undoes the TSV escapes of `report::tsv_lines`.
fn tsv_unescape(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('n') => '\n',
            other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
        });
    }
    Ok(out)
}

/// Reads a UIDL cache: the TSV of `--format tsv` (header line, then
/// `mailbox uid pop3_uidl pop3_order`); rows without a UIDL are skipped.
fn parse_cache(
    path: &Path,
    text: &str,
) -> anyhow::Result<std::collections::BTreeMap<(String, u32), String>> {
    let mut cache = std::collections::BTreeMap::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h == report::TSV_HEADER => {}
        _ => {
            return Err(anyhow!(
                "{}:1: expected the header line {:?}",
                path.display(),
                report::TSV_HEADER
            ));
        }
    }
    for (i, line) in lines {
        let n = i + 1;
        let err = |m: String| anyhow!("{}:{n}: {m}", path.display());
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            return Err(err(format!(
                "expected 4 tab-separated fields, got {}",
                f.len()
            )));
        }
        let mailbox = tsv_unescape(f[0]).map_err(err)?;
        let uid: u32 = f[1]
            .parse()
            .ok()
            .filter(|&u| u > 0)
            .ok_or_else(|| err(format!("bad UID {:?}", f[1])))?;
        let uidl = tsv_unescape(f[2]).map_err(err)?;
        if !uidl.is_empty() {
            cache.insert((mailbox, uid), uidl);
        }
    }
    Ok(cache)
}

/// Everything settled before connecting.
struct Plan {
    source: Source,
    opts: migrate::Options,
}

fn endpoint(
    proto: Proto,
    url: Option<&str>,
    conf: &Target,
    starttls: bool,
) -> anyhow::Result<(String, u16, String, Security)> {
    let from_url = url.map(|u| parse_url(u, proto)).transpose()?;
    let pick = |f: fn(&Target) -> Option<String>| from_url.as_ref().and_then(f).or_else(|| f(conf));
    let flag = match proto {
        Proto::Imap => "--imap",
        Proto::Pop3 => "--pop3",
    };
    let host = pick(|t| t.host.clone()).ok_or_else(|| {
        anyhow!(
            "no {} server: give {flag} or {}_host in --dovecot-conf",
            proto.name(),
            if proto == Proto::Imap {
                "imapc"
            } else {
                "pop3c"
            }
        )
    })?;
    let user = pick(|t| t.user.clone())
        .ok_or_else(|| anyhow!("no {} user: give {flag} USER@HOST", proto.name()))?;
    let mut security = from_url
        .as_ref()
        .and_then(|t| t.security)
        .or(conf.security)
        .unwrap_or(Security::Plain);
    if starttls {
        if security == Security::Implicit {
            return Err(anyhow!(
                "--starttls is for imap:// and pop3:// URLs, not implicit TLS"
            ));
        }
        security = Security::StartTls;
    }
    let default_port = match (proto, security) {
        (Proto::Imap, Security::Implicit) => 993,
        (Proto::Imap, _) => 143,
        (Proto::Pop3, Security::Implicit) => 995,
        (Proto::Pop3, _) => 110,
    };
    let port = from_url
        .as_ref()
        .filter(|_| url.is_some_and(url_has_port))
        .and_then(|t| t.port)
        .or(conf.port)
        .unwrap_or(default_port);
    Ok((host, port, user, security))
}

fn url_has_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.trim_end_matches('/');
    match hostport.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => hostport.contains(':'),
    }
}

fn settle(args: &VerifyArgs) -> anyhow::Result<Plan> {
    settle_for(
        args,
        args.imap.as_deref(),
        args.pop3.as_deref(),
        args.password_file.as_deref(),
    )
}

/// Settles one account: its URLs and password file, the rest from `args`.
fn settle_for(
    args: &VerifyArgs,
    imap: Option<&str>,
    pop3: Option<&str>,
    password_file: Option<&Path>,
) -> anyhow::Result<Plan> {
    let conf = match &args.dovecot_conf {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_dovecot_conf(path, &text)?
        }
        None => DovecotConf::default(),
    };
    let mut settings = Settings::enabled();
    for (n, key, value) in &conf.plugin {
        settings.set(key, value).map_err(|e| {
            let path = args.dovecot_conf.as_deref().unwrap_or(Path::new("-"));
            anyhow!("{}:{n}: {e}", path.display())
        })?;
    }
    for s in &args.set {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set {s:?}: expected NAME=VALUE"))?;
        settings
            .set(k.trim(), v.trim())
            .with_context(|| format!("--set {s:?}"))?;
    }
    let profile = args
        .imapc_profile
        .or(conf.profile)
        .unwrap_or(ImapcProfile::Docs);
    let (ih, ip, iu, is) = endpoint(Proto::Imap, imap, &conf.imap, args.starttls)?;
    let (ph, pp, pu, ps) = endpoint(Proto::Pop3, pop3, &conf.pop3, args.starttls)?;
    let file = password_file.map(read_password_file).transpose()?;
    let ipass = password(
        Proto::Imap,
        file.as_ref(),
        conf.imap_password.as_ref(),
        &format!("{iu}@{ih}"),
    )?;
    let ppass = password(
        Proto::Pop3,
        file.as_ref(),
        conf.pop3_password.as_ref(),
        &format!("{pu}@{ph}"),
    )?;
    let mut trust = Trust::system();
    trust.ca_files = args.ca_file.clone();
    trust.insecure = args.insecure;
    let mut opts = migrate::Options::new(settings, profile);
    opts.audit = !args.no_audit;
    opts.connect_timeout = Duration::from_secs(args.connect_timeout.max(1));
    opts.command_timeout = Duration::from_secs(args.timeout.max(1));
    opts.retry = Retry {
        retries: args.retries,
        delay: Duration::from_millis(args.retry_delay_ms),
    };
    if let Some(path) = &args.cache {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        opts.cache = parse_cache(path, &text)?;
    }
    Ok(Plan {
        source: Source {
            imap: Endpoint {
                host: ih,
                port: ip,
                user: iu,
                password: ipass,
                security: is,
            },
            pop3: Endpoint {
                host: ph,
                port: pp,
                user: pu,
                password: ppass,
                security: ps,
            },
            trust,
        },
        opts,
    })
}

/// The verdict: whether Dovecot would carry every UIDL correctly.
fn verdict(r: &Report) -> Result<(), String> {
    let exit = r.dovecot.exit_code;
    let problems = r
        .dovecot
        .log
        .iter()
        .filter(|l| l.starts_with("Warning:") || l.starts_with("Error:"))
        .count();
    match &r.audit {
        Some(a) => {
            if exit == 0 && a.counts.all_right() && a.counts.not_migrated == 0 {
                Ok(())
            } else {
                Err(format!(
                    "Dovecot would not carry every UIDL right: doveadm exit {exit}, {} wrong, {} lost, {} order-lost, {} not migrated; {}",
                    a.counts.wrong,
                    a.counts.lost,
                    a.counts.order_lost,
                    a.counts.not_migrated,
                    a.recommendation
                ))
            }
        }
        None if exit == 0 && problems == 0 => Ok(()),
        None => Err(format!(
            "Dovecot would report {problems} warning(s) or error(s) (doveadm exit {exit}); run without --no-audit to learn which UIDLs are affected"
        )),
    }
}

fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Human => report::human(r),
        Format::Json => {
            let mut s = r.to_json();
            s.push('\n');
            s
        }
        Format::Yaml => r.to_yaml(),
        Format::Tsv => {
            let mut o = String::new();
            let _ = writeln!(o, "{}", report::TSV_HEADER);
            o.push_str(&report::tsv_lines(r));
            o
        }
        Format::DovecotUidlist => report::dovecot_uidlist(r),
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, renamed over it.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads the source and builds the report.
pub async fn verify(source: &Source, opts: &migrate::Options) -> anyhow::Result<Report> {
    // Logins are retried inside; a connection dropped later costs the whole read.
    let m = opts
        .retry
        .run(
            migrate::MigrateError::is_temporary,
            |e| eprintln!("uidlmap: {e}; trying again"),
            || migrate::fast_read(source, opts),
        )
        .await
        // The message already holds the cause; anyhow's chain would repeat it.
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(line) = &m.listing.pop3_error {
        // UIDL missing is Dovecot's failure to report; anything else (network, login)
        // keeps us from verifying at all.
        if !line.ends_with("UIDLs not supported by server") {
            let line = line
                .strip_prefix("pop3_migration: Couldn't sync mailbox POP3-MIGRATION-NS/INBOX: ")
                .unwrap_or(line);
            return Err(anyhow!(
                "POP3 server {}:{}: {line}",
                source.pop3.host,
                source.pop3.port
            ));
        }
    }
    let p = predict::predict(&m, &predict::Inputs::new(&opts.settings))?;
    let r = p.report(
        &format!("{}@{}", source.imap.user, source.imap.host),
        None,
        opts.profile,
        &|_, _| None,
    );
    Ok(r)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// One line of an accounts file: `IMAP_URL POP3_URL [PASSWORD_FILE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    /// Line number in the accounts file: the account's key in the results.
    line: usize,
    imap: String,
    pop3: String,
    password_file: Option<PathBuf>,
}

fn parse_accounts(path: &Path, text: &str) -> anyhow::Result<Vec<Account>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if !(2..=3).contains(&f.len()) {
            return Err(anyhow!(
                "{}:{}: expected `IMAP_URL POP3_URL [PASSWORD_FILE]`",
                path.display(),
                i + 1
            ));
        }
        for (url, proto) in [(f[0], Proto::Imap), (f[1], Proto::Pop3)] {
            parse_url(url, proto).map_err(|e| anyhow!("{}:{}: {e}", path.display(), i + 1))?;
        }
        out.push(Account {
            line: i + 1,
            imap: f[0].to_string(),
            pop3: f[1].to_string(),
            password_file: f.get(2).map(PathBuf::from),
        });
    }
    Ok(out)
}

/// `I/N`: this run takes the accounts whose index (0-based, in file order) is I mod N.
fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| anyhow!("--shard {s:?}: expected I/N"))?;
    let (i, n): (usize, usize) = (
        i.parse().map_err(|_| anyhow!("--shard {s:?}: bad I"))?,
        n.parse().map_err(|_| anyhow!("--shard {s:?}: bad N"))?,
    );
    if n == 0 || i >= n {
        return Err(anyhow!("--shard {s:?}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// Accounts already in a JSON Lines result file (for --resume).
fn done_accounts(path: &Path) -> anyhow::Result<std::collections::BTreeSet<usize>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut done = std::collections::BTreeSet::new();
    for line in text.lines() {
        // A line cut short by an interrupted run is simply done again.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(n) = v.get("account").and_then(|a| a.as_u64())
        {
            done.insert(n as usize);
        }
    }
    Ok(done)
}

/// Verifies every account of `--accounts`, `--jobs` at once, one JSON line each (to
/// `--output`, appended line by line so that `--resume` can skip what is done).
fn run_accounts(args: &VerifyArgs, path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut accounts = parse_accounts(path, &text).map_err(bad_input)?;
    if let Some(shard) = &args.shard {
        let (i, n) = parse_shard(shard).map_err(bad_input)?;
        accounts = accounts
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .map(|(_, a)| a)
            .collect();
    }
    if args.resume {
        let out = args
            .output
            .as_deref()
            .ok_or_else(|| bad_input(anyhow!("--resume needs --output")))?;
        let done = done_accounts(out)?;
        accounts.retain(|a| !done.contains(&a.line));
    }
    // Settle everything first: bad input or a password prompt before any connection.
    let mut plans = Vec::new();
    for a in &accounts {
        let pw = a.password_file.as_deref().or(args.password_file.as_deref());
        let plan = settle_for(args, Some(&a.imap), Some(&a.pop3), pw)
            .map_err(|e| bad_input(e.context(format!("{}:{}", path.display(), a.line))))?;
        plans.push((a.clone(), plan));
    }
    let sink: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => Box::new(io::stdout()),
    };
    let sink = std::sync::Arc::new(std::sync::Mutex::new(sink));
    let jobs = args.jobs.max(1) as usize;
    let total = plans.len();
    let progress = io::IsTerminal::is_terminal(&io::stderr());
    let worst = runtime()?.block_on(async move {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
        let mut set = tokio::task::JoinSet::new();
        for (a, plan) in plans {
            let sem = sem.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let r = verify(&plan.source, &plan.opts).await;
                (a, r)
            });
        }
        let (mut worst, mut finished) = (0u8, 0usize);
        while let Some(joined) = set.join_next().await {
            let (a, r) = joined.context("an account's task panicked")?;
            let (exit, value) = match r {
                Ok(report) => {
                    let exit = if verdict(&report).is_ok() { 0 } else { 1 };
                    (exit, serde_json::json!({
                        "account": a.line, "imap": redact_url(&a.imap), "pop3": redact_url(&a.pop3),
                        "exit": exit, "report": report,
                    }))
                }
                Err(e) => (2, serde_json::json!({
                    "account": a.line, "imap": redact_url(&a.imap), "pop3": redact_url(&a.pop3),
                    "exit": 2, "error": format!("{e:#}"),
                })),
            };
            worst = worst.max(exit);
            finished += 1;
            let mut w = sink.lock().map_err(|_| anyhow!("output lock poisoned"))?;
            writeln!(w, "{value}")?;
            w.flush()?;
            if progress {
                eprint!("\ruidlmap: {finished}/{total} accounts verified");
            }
        }
        if progress {
            eprintln!();
        }
        Ok::<_, anyhow::Error>(worst)
    })?;
    match worst {
        0 => Ok(()),
        1 => Err(check_failed(anyhow!(
            "Dovecot would not carry every UIDL right for some accounts (\"exit\": 1)"
        ))),
        _ => Err(bad_input(anyhow!(
            "verification failed for some accounts (\"exit\": 2)"
        ))),
    }
}

/// `listing…`, then `headers: POP3 a/b, IMAP c/d`.
fn progress_line(p: &migrate::Progress) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let (pl, il) = (p.pop3_listed.load(Relaxed), p.imap_listed.load(Relaxed));
    let (pr, ir) = (p.pop3_read.load(Relaxed), p.imap_read.load(Relaxed));
    if pl == 0 && il == 0 {
        "uidlmap: listing IMAP and POP3…".to_string()
    } else {
        format!("uidlmap: headers read: POP3 {pr}/{pl}, IMAP {ir}/{il}")
    }
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    if args.insecure {
        eprintln!(
            "uidlmap: WARNING: --insecure: TLS certificates are NOT verified; anyone on the network path can read the passwords and the mail"
        );
    }
    if let Some(path) = &args.accounts {
        return run_accounts(args, path);
    }
    if args.resume || args.shard.is_some() {
        return Err(bad_input(anyhow!("--resume and --shard need --accounts")));
    }
    let plan = settle(args).map_err(bad_input)?;
    let show = io::IsTerminal::is_terminal(&io::stderr());
    let progress = plan.opts.progress.clone();
    let report = runtime()?
        .block_on(async {
            if !show {
                return verify(&plan.source, &plan.opts).await;
            }
            // Progress on the terminal only: a line rewritten in place while reading.
            let ticker = tokio::spawn(async move {
                loop {
                    eprint!("\r\x1b[K{}", progress_line(&progress));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            });
            let r = verify(&plan.source, &plan.opts).await;
            ticker.abort();
            eprint!("\r\x1b[K");
            r
        })
        .context("verification failed")?;
    let out = render(&report, args.format);
    match &args.output {
        Some(path) => write_atomically(path, &out)?,
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
    verdict(&report).map_err(|m| check_failed(anyhow!(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("imaps://bob%40example.com@mail.example.com", Proto::Imap).unwrap();
        assert_eq!(t.user.as_deref(), Some("bob@example.com"));
        assert_eq!(t.host.as_deref(), Some("mail.example.com"));
        assert_eq!((t.port, t.security), (Some(993), Some(Security::Implicit)));
        let t = parse_url("pop3://a@b@[::1]:1110/", Proto::Pop3).unwrap();
        assert_eq!(t.user.as_deref(), Some("a@b"));
        assert_eq!(t.host.as_deref(), Some("::1"));
        assert_eq!((t.port, t.security), (Some(1110), Some(Security::Plain)));
        assert_eq!(
            parse_url("pop3s://u@h", Proto::Pop3).unwrap().port,
            Some(995)
        );
        for bad in [
            "imap://h",
            "pop3://u@h",
            "imap://u:pw@h",
            "imap://u@h:0",
            "imap://u@h:x",
            "imap://u@",
            "imap://u@h/INBOX",
            "http://u@h",
            "imap://u%4@h",
        ] {
            assert!(parse_url(bad, Proto::Imap).is_err(), "{bad}");
        }
        // The password never shows in the error.
        let e = parse_url("imap://u:hunter2@h", Proto::Imap)
            .unwrap_err()
            .to_string();
        assert!(e.contains("password does not belong"), "{e}");
        assert!(url_has_port("imap://u@h:1"));
        assert!(!url_has_port("imap://u@[::1]"));
    }

    #[test]
    fn accounts_and_shards() {
        let p = Path::new("a.txt");
        let a = parse_accounts(
            p,
            "# old provider\nimaps://a@h pop3s://a@h\n\nimap://b@h:1 pop3://b@h pw.txt\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].line, a[1].line), (2, 4));
        assert_eq!(a[1].password_file.as_deref(), Some(Path::new("pw.txt")));
        for (bad, want) in [
            ("imap://a@h\n", "a.txt:1: expected"),
            ("imap://a@h pop3://a@h x y\n", "a.txt:1: expected"),
            ("imap://a@h imap://a@h\n", "a.txt:1:"),
            ("imap://a:secret@h pop3://a@h\n", "a.txt:1:"),
        ] {
            let e = parse_accounts(p, bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
        assert_eq!(parse_shard("1/3").unwrap(), (1, 3));
        for bad in ["3/3", "0/0", "x/2", "1"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_file() {
        let p = Path::new("c.tsv");
        let c = parse_cache(
            p,
            "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\\tb\t1\nINBOX\t2\t\t\n",
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[&("INBOX".to_string(), 1)], "a\tb");
        for (bad, want) in [
            ("INBOX\t1\ta\t1\n", "c.tsv:1:"),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t0\ta\t1\n",
                "c.tsv:2: bad UID",
            ),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\n",
                "c.tsv:2: expected 4",
            ),
            (
                "mailbox\tuid\tpop3_uidl\tpop3_order\nINBOX\t1\ta\\x\t1\n",
                "c.tsv:2: bad escape",
            ),
        ] {
            let e = parse_cache(p, bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn dovecot_conf() {
        let text = r#"
# the migration recipe
mail_location = imapc:~/imapc
imapc_host = 192.0.2.7
imapc_port = 993
imapc_ssl = imaps
imapc_user = %u   # per user
imapc_features = rfc822.size fetch-headers
pop3c_host = "192.0.2.8"
pop3c_ssl = starttls
namespace {
  prefix = POP3-MIGRATION-NS/
  location = pop3c:
}
plugin {
  pop3_migration_mailbox = POP3-MIGRATION-NS/INBOX
  pop3_migration_skip_size_check = yes # sizes differ
}
"#;
        let c = parse_dovecot_conf(Path::new("d.conf"), text).unwrap();
        assert_eq!(c.imap.host.as_deref(), Some("192.0.2.7"));
        assert_eq!(c.imap.port, Some(993));
        assert_eq!(c.imap.user, None);
        assert_eq!(c.imap.security, Some(Security::Implicit));
        assert_eq!(c.pop3.host.as_deref(), Some("192.0.2.8"));
        assert_eq!(c.pop3.security, Some(Security::StartTls));
        assert_eq!(c.profile, Some(ImapcProfile::Docs));
        assert_eq!(
            c.plugin,
            vec![
                (
                    16,
                    "pop3_migration_mailbox".into(),
                    "POP3-MIGRATION-NS/INBOX".into()
                ),
                (17, "pop3_migration_skip_size_check".into(), "yes".into()),
            ]
        );
        for (bad, want) in [
            (
                "plugin {\n pop3_migration_skip_size_check = maybe\n}\n",
                "c:2:",
            ),
            (
                "pop3_migration_skip_size_check = yes\n",
                "c:1: pop3_migration_skip",
            ),
            ("plugin {\n", "never closed"),
            ("}\n", "c:1:"),
            ("a = \"x\n", "c:1: unterminated"),
            ("imapc_ssl = tls\n", "c:1: imapc_ssl"),
            ("!include x.conf\n", "c:1:"),
            ("plugin {\n pop3_migration_nonsense = yes\n}\n", "c:2:"),
        ] {
            let e = parse_dovecot_conf(Path::new("c"), bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }
}
