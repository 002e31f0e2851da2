//! Real Dovecot run by hand on 127.0.0.1, with no system daemon: 2.3.19.1 from the host's
//! Debian packages, and 2.4.1 from a Debian 13 root (`.ci/dovecot24-root`) entered with
//! `chroot`.
//!
//! - [`source`]: a private `dovecot -F` (2.3) serving IMAP and POP3 (optionally TLS) from a
//!   Maildir we write, so UIDs, UIDVALIDITY and UIDLs are known in advance.
//! - [`oracle`]: `doveadm backup -R imapc:` with the pop3_migration plugin against any IMAP +
//!   POP3 source, then the stored `pop3.uidl` / `pop3.order` read back, for either
//!   [`DovecotVersion`]. This is the reference uidlmap's matcher is checked against.
//! - [`config`]: the configuration files the oracle writes, in each version's syntax.
//!
//! Both need root: Dovecot refuses mail access as root, so the mail files are owned by
//! `nobody` and Dovecot drops to that uid, which only root may do (and only root may
//! chroot). How and why is in `notes/dovecot-interop.md` and `notes/dovecot-2.4.md`.

pub mod config;
pub mod oracle;
pub mod source;

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::domain::DovecotVersion;

pub use oracle::{OracleOptions, OracleRun, PluginSummary, Rawlog, StoredMessage, run_backup};
pub use source::{DovecotSource, Flag, SourceFolder, SourceMessage, SourceOptions};

/// The Dovecot master binary.
pub const DOVECOT_BIN: &str = "/usr/sbin/dovecot";
/// The admin tool that runs dsync (and the plugin) and reads the result back.
pub const DOVEADM_BIN: &str = "/usr/bin/doveadm";
/// How the 2.4 binaries are entered.
pub const CHROOT_BIN: &str = "/usr/sbin/chroot";
/// The environment variable naming the Debian 13 root that holds Dovecot 2.4.
pub const DOVECOT24_ROOT_ENV: &str = "UIDLMAP_DOVECOT24_ROOT";
/// Where `.ci/dovecot24-root` builds that root when the variable is unset.
pub const DOVECOT24_ROOT_DEFAULT: &str = "/var/cache/uidlmap/dovecot-2.4-root";
/// Written by `.ci/dovecot24-root` as its last step: a root without it is half-built.
pub const DOVECOT24_ROOT_MARKER: &str = ".uidlmap-root-complete";
/// The pop3_migration plugin inside the 2.4 root.
const PLUGIN_24: &str = "usr/lib/dovecot/modules/lib05_pop3_migration_plugin.so";

impl DovecotVersion {
    /// The directory doveadm sees as `/`: `None` for 2.3 (the host itself); for 2.4
    /// `$UIDLMAP_DOVECOT24_ROOT`, else [`DOVECOT24_ROOT_DEFAULT`].
    pub fn root(self) -> Option<PathBuf> {
        match self {
            DovecotVersion::V2_3 => None,
            DovecotVersion::V2_4 => Some(
                std::env::var_os(DOVECOT24_ROOT_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(DOVECOT24_ROOT_DEFAULT)),
            ),
        }
    }

    /// Where a run's private directory goes on the host: every file doveadm reads or
    /// writes must be inside its root, so for 2.4 this is the root's `/tmp`.
    pub fn scratch_dir(self) -> PathBuf {
        match self.root() {
            None => std::env::temp_dir(),
            Some(root) => root.join("tmp"),
        }
    }

    /// A host path as doveadm of this version sees it (2.4: relative to the root);
    /// `None` when a 2.4 run could not reach it.
    pub fn inside_path(self, host: &Path) -> Option<PathBuf> {
        match self.root() {
            None => Some(host.to_path_buf()),
            Some(root) => host
                .strip_prefix(&root)
                .ok()
                .map(|rel| Path::new("/").join(rel)),
        }
    }

    /// Why this version cannot be run here, or `None` when it can.
    pub fn unavailable_reason(self) -> Option<String> {
        let Some(root) = self.root() else {
            return unavailable_reason();
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Some("Dovecot 2.4 must be run as root here (chroot, then uid nobody)".into());
        }
        let complete = root.join(DOVECOT24_ROOT_MARKER).is_file()
            && root.join(DOVEADM_BIN.trim_start_matches('/')).exists()
            && root.join(PLUGIN_24).exists();
        if !complete {
            return Some(format!(
                "no complete Debian 13 root with Dovecot 2.4 at {} (build it with \
                 .ci/dovecot24-root, or point {DOVECOT24_ROOT_ENV} at one)",
                root.display()
            ));
        }
        if !Path::new(CHROOT_BIN).exists() {
            return Some(format!("{CHROOT_BIN} not found"));
        }
        if lookup_user("nobody").is_none() {
            return Some("no user 'nobody' on this system".into());
        }
        None
    }

    /// For tests: `true` when this version can run; otherwise prints
    /// `skipped: <test>: Dovecot <version> not usable: ...` to stderr and returns `false`.
    pub fn available_or_skip(self, test: &str) -> bool {
        match self.unavailable_reason() {
            None => true,
            Some(why) => {
                eprintln!("skipped: {test}: Dovecot {self} not usable: {why}");
                false
            }
        }
    }

    /// What `dovecot --version` prints for this version, e.g. `2.4.1-4 (7d8c0e5759)`.
    pub fn installed(self) -> Result<String, DovecotError> {
        if let Some(why) = self.unavailable_reason() {
            return Err(DovecotError::Unavailable(why));
        }
        let mut cmd = self.command(DOVECOT_BIN);
        cmd.arg("--version").env_clear().stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(DovecotError::io(format!("running {DOVECOT_BIN} --version")))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || text.is_empty() {
            return Err(DovecotError::Unavailable(format!(
                "{DOVECOT_BIN} --version failed ({})",
                out.status
            )));
        }
        Ok(text)
    }

    /// A command running one of Dovecot's binaries (an absolute path) of this version.
    pub(crate) fn command(self, bin: &str) -> Command {
        match self.root() {
            None => Command::new(bin),
            Some(root) => {
                let mut cmd = Command::new(CHROOT_BIN);
                cmd.arg(root).arg(bin);
                cmd
            }
        }
    }
}

/// Everything that can go wrong while running Dovecot.
#[derive(Debug, thiserror::Error)]
pub enum DovecotError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid option: {0}")]
    BadOption(String),
    #[error("making TLS files: {0}")]
    Tls(String),
    #[error("{what} did not become ready within {waited:?}; Dovecot's log ends with:\n{log_tail}")]
    StartTimeout {
        what: String,
        waited: Duration,
        log_tail: String,
    },
    #[error("{what} exited early ({status}); Dovecot's log ends with:\n{log_tail}")]
    Exited {
        what: String,
        status: String,
        log_tail: String,
    },
    #[error("reading the destination back failed ({status}): {output}")]
    ReadBack { status: String, output: String },
}

impl DovecotError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> DovecotError {
        let context = context.into();
        move |source| DovecotError::Io { context, source }
    }
}

/// Why Dovecot cannot be run here, or `None` when it can.
pub fn unavailable_reason() -> Option<String> {
    for bin in [DOVECOT_BIN, DOVEADM_BIN] {
        if !Path::new(bin).exists() {
            return Some(format!(
                "{bin} not found (install dovecot-core dovecot-imapd dovecot-pop3d)"
            ));
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("Dovecot must be run as root here (it switches to uid nobody)".into());
    }
    if lookup_user("nobody").is_none() {
        return Some("no user 'nobody' on this system".into());
    }
    None
}

/// Whether `dovecot` and `doveadm` are installed and can be run by hand.
pub fn available() -> bool {
    unavailable_reason().is_none()
}

/// For tests: `true` when Dovecot can run; otherwise prints
/// `skipped: <test>: dovecot not installed (...)` to stderr and returns `false`.
pub fn available_or_skip(test: &str) -> bool {
    match unavailable_reason() {
        None => true,
        Some(why) => {
            eprintln!("skipped: {test}: dovecot not installed or not usable: {why}");
            false
        }
    }
}

/// A user's uid and gid, as the system resolves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ids {
    pub uid: u32,
    pub gid: u32,
}

pub(crate) fn lookup_user(name: &str) -> Option<Ids> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: getpwnam_r (the reentrant form) writes only into `pwd` and `buf`, both owned
    // here and sized as passed; `result` is null or points at `pwd`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            None
        } else {
            Some(Ids {
                uid: pwd.pw_uid,
                gid: pwd.pw_gid,
            })
        }
    }
}

pub(crate) fn nobody() -> Result<Ids, DovecotError> {
    lookup_user("nobody").ok_or_else(|| DovecotError::Unavailable("no user 'nobody'".into()))
}

/// A private directory under the system temp dir (or a given parent), removed on drop.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    keep: bool,
}

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

impl WorkDir {
    /// Creates `<parent>/uidlmap-<tag>-<pid>-<n>-<nanos>`, mode 0755 so Dovecot's
    /// unprivileged processes can traverse it; secrets inside get their own modes.
    pub fn create(parent: Option<&Path>, tag: &str) -> Result<WorkDir, DovecotError> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        fs::create_dir_all(&parent)
            .map_err(DovecotError::io(format!("creating {}", parent.display())))?;
        loop {
            let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = parent.join(format!(
                "uidlmap-{tag}-{}-{n}-{nanos:08x}",
                std::process::id()
            ));
            match fs::create_dir(&path) {
                Ok(()) => {
                    set_mode(&path, 0o755)?;
                    return Ok(WorkDir { path, keep: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(DovecotError::Io {
                        context: format!("creating {}", path.display()),
                        source: e,
                    });
                }
            }
        }
    }

    /// An existing (or new) directory the caller owns: never removed.
    pub fn reuse(path: &Path) -> Result<WorkDir, DovecotError> {
        fs::create_dir_all(path)
            .map_err(DovecotError::io(format!("creating {}", path.display())))?;
        set_mode(path, 0o755)?;
        Ok(WorkDir {
            path: path.to_path_buf(),
            keep: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }

    /// Keeps the directory after drop (for debugging a failed run).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), DovecotError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(DovecotError::io(format!("chmod {}", path.display())))
}

pub(crate) fn chown(path: &Path, ids: Ids) -> Result<(), DovecotError> {
    std::os::unix::fs::chown(path, Some(ids.uid), Some(ids.gid))
        .map_err(DovecotError::io(format!("chown {}", path.display())))
}

/// `chown -R`, not following symlinks (there are none in what we create).
pub(crate) fn chown_tree(path: &Path, ids: Ids) -> Result<(), DovecotError> {
    chown(path, ids)?;
    if path.is_dir() {
        let entries =
            fs::read_dir(path).map_err(DovecotError::io(format!("reading {}", path.display())))?;
        for entry in entries {
            let entry = entry.map_err(DovecotError::io(format!("reading {}", path.display())))?;
            chown_tree(&entry.path(), ids)?;
        }
    }
    Ok(())
}

/// Writes a file with the given mode (created with it, so a secret is never readable by
/// others even briefly).
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DovecotError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(DovecotError::io(format!("creating {}", path.display())))?;
    f.write_all(bytes)
        .map_err(DovecotError::io(format!("writing {}", path.display())))?;
    set_mode(path, mode)
}

/// Puts the child in its own process group (so a stuck run can be killed with everything
/// it forked) and disables core dumps (doveadm 2.3.19.1 aborts on an IMAP login failure).
pub(crate) fn prepare_child(cmd: &mut Command) {
    cmd.process_group(0);
    // SAFETY: the closure runs between fork and exec and only calls setrlimit, which is
    // async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub(crate) fn signal_pid(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; pid is one we spawned.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Signals the whole process group led by a child we spawned with [`prepare_child`].
pub(crate) fn signal_group(pgid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pgid)
        && pid > 1
    {
        // SAFETY: as above; the negative pid names the group our child leads.
        unsafe {
            libc::kill(-pid, sig);
        }
    }
}

/// Waits for a child until `deadline`; `None` if it is still running then.
pub(crate) fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code as a shell reports it: the code, or 128 + the signal number
/// (so doveadm's abort is 134, as in the interop note).
pub fn exit_code(status: &ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

/// The last `max_lines` lines of a text file (at most the last 64 KiB are read).
pub(crate) fn file_tail(path: &Path, max_lines: usize) -> String {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > WINDOW {
        let _ = f.seek(SeekFrom::Start(len - WINDOW));
    }
    let mut buf = Vec::new();
    let _ = f.take(WINDOW).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(max_lines);
    lines[from..].join("\n")
}

/// Reads a whole text file, at most `limit` bytes (a runaway log cannot eat memory).
pub(crate) fn read_bounded(path: &Path, limit: u64) -> String {
    let Ok(f) = fs::File::open(path) else {
        return String::new();
    };
    let mut buf = Vec::new();
    let _ = f.take(limit).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Replaces every appearance of each secret (raw, and as written inside an IMAP or
/// Dovecot-config quoted string) by `***`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.is_empty() {
            continue;
        }
        let quoted = s.replace('\\', "\\\\").replace('"', "\\\"");
        if quoted != *s {
            out = out.replace(&quoted, "***");
        }
        out = out.replace(s, "***");
    }
    out
}

/// A Dovecot config string value, double-quoted with `\` escapes.
pub(crate) fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Rejects values that would break out of a config line.
pub(crate) fn check_config_value(what: &str, value: &str) -> Result<(), DovecotError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(DovecotError::BadOption(format!(
            "{what} must not contain CR, LF or NUL"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_table() {
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "1 LOGIN \"alice\" \"s3cret\"",
                &["s3cret"],
                "1 LOGIN \"alice\" \"***\"",
            ),
            ("PASS a\"b\\c", &["a\"b\\c"], "PASS ***"),
            (
                "LOGIN \"u\" \"a\\\"b\\\\c\"",
                &["a\"b\\c"],
                "LOGIN \"u\" \"***\"",
            ),
            ("nothing here", &["zz"], "nothing here"),
            ("empty secret is ignored", &[""], "empty secret is ignored"),
        ];
        for (text, secrets, want) in cases {
            assert_eq!(scrub(text, secrets), *want, "{text}");
        }
    }

    #[test]
    fn quote_table() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a \"b\" #c\\"), "\"a \\\"b\\\" #c\\\\\"");
    }

    #[test]
    fn versions_parse_and_print() {
        for (text, want) in [
            ("2.3", Some(DovecotVersion::V2_3)),
            ("2.3.19.1", Some(DovecotVersion::V2_3)),
            (" 2.4 ", Some(DovecotVersion::V2_4)),
            ("2.4.1", Some(DovecotVersion::V2_4)),
            ("2.45", None),
            ("2", None),
            ("", None),
        ] {
            assert_eq!(text.parse::<DovecotVersion>().ok(), want, "{text:?}");
        }
        assert_eq!(DovecotVersion::V2_4.to_string(), "2.4");
        assert_eq!(DovecotVersion::default(), DovecotVersion::V2_3);
    }

    #[test]
    fn paths_inside_the_root() {
        let v = DovecotVersion::V2_3;
        assert_eq!(v.inside_path(Path::new("/tmp/x")), Some("/tmp/x".into()));
        let v = DovecotVersion::V2_4;
        let root = v.root().expect("2.4 has a root");
        assert_eq!(
            v.inside_path(&root.join("tmp/run-1")),
            Some("/tmp/run-1".into())
        );
        assert_eq!(v.inside_path(Path::new("/elsewhere/run")), None);
        assert_eq!(v.scratch_dir(), root.join("tmp"));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&ExitStatus::from_raw(75 << 8)), 75);
        assert_eq!(exit_code(&ExitStatus::from_raw(6)), 134);
    }
}
