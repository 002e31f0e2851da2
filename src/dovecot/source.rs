//! A private Dovecot serving IMAP and POP3 on 127.0.0.1 from a Maildir we write.
//!
//! We write `dovecot-uidlist` ourselves, so UIDs follow the given order (1..n) and
//! UIDVALIDITY is the one asked for; UIDLs are therefore known before the server starts
//! ([`DovecotSource::expected_uidl`]). INTERNALDATEs are file mtimes, set to
//! `1700000000 + i` seconds, so runs are reproducible.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fake_servers::tls::TestCa;
use rustls_pki_types::CertificateDer;

use super::{
    DOVECOT_BIN, DovecotError, WorkDir, check_config_value, chown, chown_tree, file_tail,
    lookup_user, nobody, prepare_child, quote, set_mode, signal_group, signal_pid, wait_until,
    write_file,
};
use crate::secret::Secret;

/// First INTERNALDATE (file mtime) and maildir timestamp: 2023-11-14T22:13:20Z.
const BASE_TIME: u64 = 1_700_000_000;
/// How often a start is retried when a port we picked was taken meanwhile.
const PORT_RETRIES: usize = 3;

/// An IMAP system flag, stored as a Maildir info letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    Draft,
    Flagged,
    Answered,
    Seen,
    Deleted,
}

impl Flag {
    /// The Maildir letter. Letters must be written in ASCII order, which the declaration
    /// order of the variants follows (D F R S T).
    fn letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }
}

/// One message as stored: its exact bytes and its flags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMessage {
    pub bytes: Vec<u8>,
    pub flags: Vec<Flag>,
}

impl SourceMessage {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SourceMessage {
            bytes: bytes.into(),
            flags: Vec::new(),
        }
    }

    pub fn with_flags(mut self, flags: &[Flag]) -> Self {
        self.flags = flags.to_vec();
        self
    }
}

/// A folder besides INBOX, with its messages in UID order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFolder {
    /// Printable ASCII, no `/`, `.`, `&`, `%`, `*`, `"`, `\`; not `INBOX`.
    pub name: String,
    pub messages: Vec<SourceMessage>,
}

/// What to serve and how.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Login name; no `:`, whitespace or `%`.
    pub user: String,
    /// No `:` (passwd-file fields), CR or LF.
    pub password: Secret,
    /// INBOX, in UID order: message `i` (0-based) gets UID `i + 1`.
    pub messages: Vec<SourceMessage>,
    /// More folders (Maildir++ `.name`), each with UIDs 1..n.
    pub folders: Vec<SourceFolder>,
    /// INBOX's UIDVALIDITY; the k-th extra folder (1-based) gets `uidvalidity + k`.
    pub uidvalidity: u32,
    /// Dovecot's `pop3_uidl_format`. `%m` does not work with Maildir. Note that `X` gives
    /// lower-case hex: the default makes `000000010012d687`.
    pub pop3_uidl_format: String,
    /// Also listen for IMAPS and POP3S, and offer STARTTLS/STLS, with a fresh test CA.
    pub tls: bool,
    /// Raw lines appended to the configuration (e.g. `pop3_fast_size_lookups = yes`).
    pub extra_config: Vec<String>,
    /// Bound on the start-up, including the first greetings.
    pub start_timeout: Duration,
    /// Where to create the private directory (default: the system temp dir).
    pub parent_dir: Option<PathBuf>,
    /// Keep the private directory after drop, for debugging.
    pub keep_dir: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            user: "alice".into(),
            password: Secret::new("secret"),
            messages: Vec::new(),
            folders: Vec::new(),
            uidvalidity: 1_700_000_000,
            pop3_uidl_format: "%08Xu%08Xv".into(),
            tls: false,
            extra_config: Vec::new(),
            start_timeout: Duration::from_secs(10),
            parent_dir: None,
            keep_dir: false,
        }
    }
}

impl SourceOptions {
    /// Defaults with these INBOX messages, no flags.
    pub fn with_messages<I, B>(messages: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Vec<u8>>,
    {
        SourceOptions {
            messages: messages.into_iter().map(SourceMessage::new).collect(),
            ..Default::default()
        }
    }
}

/// A running Dovecot. Dropping it stops the server (TERM, then KILL after a grace period)
/// and removes its files.
#[derive(Debug)]
pub struct DovecotSource {
    child: Option<Child>,
    dir: WorkDir,
    imap_port: u16,
    pop3_port: u16,
    imaps_port: Option<u16>,
    pop3s_port: Option<u16>,
    user: String,
    password: Secret,
    ca: Option<TestCa>,
    uidvalidity: u32,
    uidl_format: String,
    /// Per mailbox (INBOX first, then the folders): the Maildir base names in UID order.
    files: Vec<(String, Vec<String>)>,
}

impl DovecotSource {
    /// Whether `dovecot` and `doveadm` are installed and usable (root, user nobody).
    pub fn available() -> bool {
        super::available()
    }

    /// For tests: `true` if Dovecot can run, else prints a "skipped" line and returns false.
    pub fn available_or_skip(test: &str) -> bool {
        super::available_or_skip(test)
    }

    /// Writes the Maildir and configuration, starts `dovecot -F`, and returns once both
    /// the IMAP greeting and the POP3 banner have been read (about 0.1 s here). Blocking:
    /// from async code, call it before the runtime work or in `spawn_blocking`.
    pub fn start(opts: SourceOptions) -> Result<DovecotSource, DovecotError> {
        if let Some(why) = super::unavailable_reason() {
            return Err(DovecotError::Unavailable(why));
        }
        validate(&opts)?;
        let mail_ids = nobody()?;
        // Dovecot's auth process runs as the internal user and reads the passwd-file.
        let internal = lookup_user("dovecot").ok_or_else(|| {
            DovecotError::Unavailable("no user 'dovecot' (default_internal_user)".into())
        })?;

        let mut dir = WorkDir::create(opts.parent_dir.as_deref(), "dovecot-src")?;
        if opts.keep_dir {
            dir.keep();
        }
        let dir_str = dir.path().to_str().unwrap_or_default().to_string();
        if dir_str.is_empty() || dir_str.contains([':', ' ', '\t', '"', '\\']) {
            return Err(DovecotError::BadOption(format!(
                "the private directory {} must be a UTF-8 path without ':', spaces, quotes or \\",
                dir.path().display()
            )));
        }

        for sub in ["run", "state"] {
            fs::create_dir(dir.join(sub))
                .map_err(DovecotError::io(format!("creating {sub} in {dir_str}")))?;
        }
        let home = dir.join("home").join(&opts.user);
        let files = write_maildir(&home.join("Maildir"), &opts)?;
        chown_tree(&dir.join("home"), mail_ids)?;

        let passwd = dir.join("passwd");
        let line = format!(
            "{}:{{PLAIN}}{}:{}:{}::{}::\n",
            opts.user,
            opts.password.expose(),
            mail_ids.uid,
            mail_ids.gid,
            home.display()
        );
        write_file(&passwd, line.as_bytes(), 0o600)?;
        chown(&passwd, internal)?;

        let ca = if opts.tls {
            let ca = TestCa::generate().map_err(|e| DovecotError::Tls(e.to_string()))?;
            fs::create_dir(dir.join("tls"))
                .map_err(DovecotError::io(format!("creating tls in {dir_str}")))?;
            // 0755: the CA file is public; the key file itself is 0600 (read by root only).
            set_mode(&dir.join("tls"), 0o755)?;
            write_file(
                &dir.join("tls/cert.pem"),
                ca.server_chain_pem.as_bytes(),
                0o644,
            )?;
            write_file(
                &dir.join("tls/key.pem"),
                ca.server_key_pem.as_bytes(),
                0o600,
            )?;
            write_file(&dir.join("tls/ca.pem"), ca.ca_pem.as_bytes(), 0o644)?;
            Some(ca)
        } else {
            None
        };

        let mut src = DovecotSource {
            child: None,
            dir,
            imap_port: 0,
            pop3_port: 0,
            imaps_port: None,
            pop3s_port: None,
            user: opts.user.clone(),
            password: opts.password.clone(),
            ca,
            uidvalidity: opts.uidvalidity,
            uidl_format: opts.pop3_uidl_format.clone(),
            files,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match src.launch(&opts, &dir_str) {
                Ok(()) => return Ok(src),
                Err(e) => {
                    let busy = src.log_tail(40).contains("Address already in use");
                    src.stop();
                    if !busy || attempt >= PORT_RETRIES {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Picks ports, writes the configuration, spawns the master and waits for greetings.
    fn launch(&mut self, opts: &SourceOptions, dir_str: &str) -> Result<(), DovecotError> {
        let ports = free_ports(if opts.tls { 4 } else { 2 })?;
        self.imap_port = ports[0];
        self.pop3_port = ports[1];
        if opts.tls {
            self.imaps_port = Some(ports[2]);
            self.pop3s_port = Some(ports[3]);
        }
        let conf = config(
            dir_str,
            opts,
            [
                self.imap_port,
                self.pop3_port,
                self.imaps_port.unwrap_or(0),
                self.pop3s_port.unwrap_or(0),
            ],
        );
        write_file(&self.dir.join("dovecot.conf"), conf.as_bytes(), 0o600)?;
        let _ = fs::remove_file(self.dir.join("dovecot.log"));

        let stderr = fs::File::create(self.dir.join("stderr.log"))
            .map_err(DovecotError::io("creating stderr.log"))?;
        let mut cmd = Command::new(DOVECOT_BIN);
        cmd.arg("-F")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        prepare_child(&mut cmd);
        self.child = Some(
            cmd.spawn()
                .map_err(DovecotError::io(format!("starting {DOVECOT_BIN}")))?,
        );
        self.wait_ready(opts.start_timeout)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), DovecotError> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut imap_ok = false;
        let mut pop3_ok = false;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child
                    .try_wait()
                    .map_err(DovecotError::io("waiting for dovecot"))?
            {
                self.child = None;
                return Err(DovecotError::Exited {
                    what: "dovecot".into(),
                    status: status.to_string(),
                    log_tail: self.log_tail(20),
                });
            }
            imap_ok = imap_ok || greeting(self.imap_port, "* OK");
            pop3_ok = pop3_ok || greeting(self.pop3_port, "+OK");
            if imap_ok && pop3_ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DovecotError::StartTimeout {
                    what: format!(
                        "dovecot (IMAP {}, POP3 {})",
                        if imap_ok { "up" } else { "no greeting" },
                        if pop3_ok { "up" } else { "no banner" }
                    ),
                    waited: start.elapsed(),
                    log_tail: self.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: TERM to the master we started, then KILL to its process group
    /// if it has not exited within 5 s. Dovecot's master takes about 1 s to exit on TERM.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        signal_pid(pid, libc::SIGTERM);
        let exited = matches!(
            wait_until(&mut child, Instant::now() + Duration::from_secs(5)),
            Ok(Some(_))
        );
        if !exited {
            signal_group(pid, libc::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }
    pub fn pop3_port(&self) -> u16 {
        self.pop3_port
    }
    /// Implicit-TLS IMAP, when started with `tls`.
    pub fn imaps_port(&self) -> Option<u16> {
        self.imaps_port
    }
    /// Implicit-TLS POP3, when started with `tls`.
    pub fn pop3s_port(&self) -> Option<u16> {
        self.pop3s_port
    }
    pub fn imap_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.imap_port))
    }
    pub fn pop3_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.pop3_port))
    }
    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn password(&self) -> &Secret {
        &self.password
    }
    /// The test CA that signed the server certificate (names `localhost`, `127.0.0.1`).
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|c| c.ca_pem.as_str())
    }
    pub fn ca_der(&self) -> Option<&CertificateDer<'static>> {
        self.ca.as_ref().map(|c| &c.ca_der)
    }
    /// A PEM file of the CA, for tools that want a path (Dovecot's `ssl_client_ca_file`).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca.as_ref().map(|_| self.dir.join("tls/ca.pem"))
    }
    /// INBOX's UIDVALIDITY.
    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }
    /// The private directory (config, logs, Maildir).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The Dovecot log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }

    /// The last lines of Dovecot's stderr and log file (the log has no passwords:
    /// Dovecot never logs them, and auth_debug_passwords is off).
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = file_tail(&self.dir.join("stderr.log"), lines);
        let log = file_tail(&self.dir.join("dovecot.log"), lines);
        if !out.is_empty() && !log.is_empty() {
            out.push('\n');
        }
        out.push_str(&log);
        out
    }

    /// The UIDL Dovecot's POP3 gives INBOX's `uid`, computed from `pop3_uidl_format`;
    /// `None` if the format uses anything but `%u`, `%v`, `%f` (with `0`, a width and
    /// `X` for hex) or `%%`, or if `uid` is out of range.
    pub fn expected_uidl(&self, uid: u32) -> Option<String> {
        let inbox = &self.files.first()?.1;
        let file = inbox.get(usize::try_from(uid).ok()?.checked_sub(1)?)?;
        expand_uidl(&self.uidl_format, uid, self.uidvalidity, file)
    }
}

impl Drop for DovecotSource {
    fn drop(&mut self) {
        self.stop();
    }
}

fn validate(opts: &SourceOptions) -> Result<(), DovecotError> {
    let u = &opts.user;
    if u.is_empty() || u.contains(|c: char| c == ':' || c == '%' || c == '/' || c.is_whitespace()) {
        return Err(DovecotError::BadOption(format!(
            "user {u:?} must be non-empty, without ':', '%', '/' or whitespace"
        )));
    }
    if opts.password.expose().contains([':', '\r', '\n', '\0']) {
        return Err(DovecotError::BadOption(
            "the password must not contain ':', CR, LF or NUL (passwd-file fields)".into(),
        ));
    }
    check_config_value("pop3_uidl_format", &opts.pop3_uidl_format)?;
    for line in &opts.extra_config {
        check_config_value("an extra_config line", line)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in &opts.folders {
        let n = &f.name;
        let bad = n.is_empty()
            || n.eq_ignore_ascii_case("INBOX")
            || !n.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            || n.contains(['/', '.', '&', '%', '*', '"', '\\'])
            || n.starts_with('~');
        if bad {
            return Err(DovecotError::BadOption(format!(
                "folder name {n:?}: printable ASCII only, without / . & % * \" \\ or a \
                 leading ~, and not INBOX"
            )));
        }
        if !seen.insert(n.clone()) {
            return Err(DovecotError::BadOption(format!("folder {n:?} given twice")));
        }
    }
    Ok(())
}

/// Writes INBOX and the folders; returns the base names per mailbox, INBOX first.
fn write_maildir(
    maildir: &Path,
    opts: &SourceOptions,
) -> Result<Vec<(String, Vec<String>)>, DovecotError> {
    let mut out = Vec::new();
    out.push((
        "INBOX".to_string(),
        write_mailbox(maildir, &opts.messages, opts.uidvalidity, false)?,
    ));
    for (k, folder) in opts.folders.iter().enumerate() {
        let uv = opts
            .uidvalidity
            .wrapping_add(u32::try_from(k + 1).unwrap_or(u32::MAX));
        let names = write_mailbox(
            &maildir.join(format!(".{}", folder.name)),
            &folder.messages,
            uv,
            true,
        )?;
        out.push((folder.name.clone(), names));
    }
    Ok(out)
}

fn write_mailbox(
    dir: &Path,
    messages: &[SourceMessage],
    uidvalidity: u32,
    is_folder: bool,
) -> Result<Vec<String>, DovecotError> {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).map_err(DovecotError::io(format!(
            "creating {}",
            dir.join(sub).display()
        )))?;
    }
    if is_folder {
        write_file(&dir.join("maildirfolder"), b"", 0o600)?;
    }
    let mut names = Vec::with_capacity(messages.len());
    // Version 3 uidlist: header `3 V<uidvalidity> N<next uid>`, then `<uid> :<base name>`.
    // Dovecot keeps these UIDs and adds the mailbox GUID itself.
    let mut uidlist = format!("3 V{uidvalidity} N{}\n", messages.len() + 1);
    for (i, msg) in messages.iter().enumerate() {
        let n = i + 1;
        let base = format!("{}.M{n}P1.uidlmap", BASE_TIME + n as u64);
        let mut flags = msg.flags.clone();
        flags.sort();
        flags.dedup();
        let info: String = flags.iter().map(|f| f.letter()).collect();
        let path = dir.join("cur").join(format!("{base}:2,{info}"));
        write_file(&path, &msg.bytes, 0o600)?;
        let mtime = UNIX_EPOCH + Duration::from_secs(BASE_TIME + n as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .map_err(DovecotError::io(format!(
                "setting mtime of {}",
                path.display()
            )))?;
        uidlist.push_str(&format!("{n} :{base}\n"));
        names.push(base);
    }
    write_file(&dir.join("dovecot-uidlist"), uidlist.as_bytes(), 0o600)?;
    Ok(names)
}

fn config(dir: &str, opts: &SourceOptions, ports: [u16; 4]) -> String {
    let [imap, pop3, imaps, pop3s] = ports;
    let ssl = if opts.tls {
        format!("ssl = yes\nssl_cert = <{dir}/tls/cert.pem\nssl_key = <{dir}/tls/key.pem\n")
    } else {
        "ssl = no\n".to_string()
    };
    let mut conf = format!(
        "# Written by uidlmap's DovecotSource; a private instance, no system daemon.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = uidlmap-src
listen = 127.0.0.1
protocols = imap pop3
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
pop3_uidl_format = {uidl}
passdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
  }}
}}
",
        uidl = quote(&opts.pop3_uidl_format),
    );
    for line in &opts.extra_config {
        conf.push_str(line);
        conf.push('\n');
    }
    conf
}

/// Distinct free ports on 127.0.0.1: all are bound at once, then released. Another
/// process may take one before Dovecot binds it; `start` retries on "Address already in
/// use".
fn free_ports(n: usize) -> Result<Vec<u16>, DovecotError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(DovecotError::io("picking a free port"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(DovecotError::io("picking a free port"))
}

/// Whether the port answers with a first line starting with `prefix` within ~1 s.
fn greeting(port: u16, prefix: &str) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .is_err()
    {
        return false;
    }
    let mut line = String::new();
    // A greeting is one short line; 512 bytes is far more than Dovecot sends.
    let mut reader = BufReader::new(std::io::Read::take(stream, 512));
    reader.read_line(&mut line).is_ok() && line.starts_with(prefix)
}

/// Expands the subset of Dovecot's `%` variables a Maildir POP3 UIDL can use here.
fn expand_uidl(format: &str, uid: u32, uidvalidity: u32, file: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut zero = false;
        let mut width = 0usize;
        let mut hex = false;
        if chars.peek() == Some(&'0') {
            zero = true;
            chars.next();
        }
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.checked_mul(10)?.checked_add(d as usize)?;
            chars.next();
        }
        if chars.peek() == Some(&'X') {
            hex = true;
            chars.next();
        }
        let value = match chars.next()? {
            '%' => "%".to_string(),
            'u' if hex => format!("{uid:x}"),
            'u' => uid.to_string(),
            'v' if hex => format!("{uidvalidity:x}"),
            'v' => uidvalidity.to_string(),
            'f' if !hex => file.to_string(),
            _ => return None,
        };
        let pad = if zero { '0' } else { ' ' };
        for _ in value.chars().count()..width {
            out.push(pad);
        }
        out.push_str(&value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_uidl_table() {
        let f = "1700000001.M1P1.uidlmap";
        let cases: &[(&str, Option<&str>)] = &[
            ("%08Xu%08Xv", Some("000000010012d687")),
            ("%u.%v", Some("1.1234567")),
            ("%f", Some(f)),
            ("x%%y%5u", Some("x%y    1")),
            ("%m", None),
            ("%Xf", None),
            ("trailing%", None),
        ];
        for (fmt, want) in cases {
            assert_eq!(expand_uidl(fmt, 1, 1_234_567, f).as_deref(), *want, "{fmt}");
        }
    }

    #[test]
    fn flags_sorted_as_maildir_wants() {
        let mut flags = [
            Flag::Seen,
            Flag::Draft,
            Flag::Deleted,
            Flag::Answered,
            Flag::Flagged,
        ];
        flags.sort();
        let info: String = flags.iter().map(|f| f.letter()).collect();
        assert_eq!(info, "DFRST");
    }

    #[test]
    fn validate_rejects_bad_names() {
        let bad_folder = SourceOptions {
            folders: vec![SourceFolder {
                name: "a/b".into(),
                messages: vec![],
            }],
            ..Default::default()
        };
        assert!(validate(&bad_folder).is_err());
        let bad_pass = SourceOptions {
            password: Secret::new("a:b"),
            ..Default::default()
        };
        assert!(validate(&bad_pass).is_err());
        assert!(validate(&SourceOptions::default()).is_ok());
    }
}
