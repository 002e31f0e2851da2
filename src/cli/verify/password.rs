//! Where `verify` gets passwords, first that has one: the password file, the
//! environment, the Dovecot config, then a prompt on the terminal (never echoed).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use uidlmap::secret::Secret;

use super::url::Proto;
use crate::cli::config;

/// The terminal's settings before the first prompt, for the signal handler to put back.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Puts the terminal back as it was, then dies of the signal as if uncaught (so the shell
/// sees 130 for Ctrl-C). Only async-signal-safe calls: open, tcsetattr, write, signal, raise.
extern "C" fn restore_and_die(sig: libc::c_int) {
    if let Some(saved) = SAVED.get() {
        // SAFETY: plain system calls on a freshly opened descriptor and static data.
        unsafe {
            let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            if fd >= 0 {
                libc::tcsetattr(fd, libc::TCSANOW, saved);
                libc::write(fd, b"\n".as_ptr().cast(), 1);
                libc::close(fd);
            }
        }
    }
    // SAFETY: resetting to the default action and raising it again is the documented way
    // to end with the signal's own status.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// While alive, a signal that ends the process first restores the terminal: the
/// prompt turns echo (and line editing) off, and Ctrl-C there must not leave the
/// terminal mute.
struct TerminalGuard {
    previous: Vec<(libc::c_int, libc::sighandler_t)>,
}

impl TerminalGuard {
    fn new(tty: &std::fs::File) -> Self {
        use std::os::fd::AsRawFd;
        // SAFETY: tcgetattr fills plain data on an open descriptor.
        let mut now: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut now) } == 0 {
            let _ = SAVED.set(now);
        }
        let handler = restore_and_die as extern "C" fn(libc::c_int) as libc::sighandler_t;
        let previous = SIGNALS
            .iter()
            // SAFETY: the handler only makes async-signal-safe calls.
            .map(|&sig| (sig, unsafe { libc::signal(sig, handler) }))
            .collect();
        TerminalGuard { previous }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        for &(sig, old) in &self.previous {
            // SAFETY: putting back the disposition found before.
            unsafe { libc::signal(sig, old) };
        }
    }
}

/// Reads a password on the terminal without echo.
fn prompt_password(label: &str) -> anyhow::Result<Secret> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no password given and no terminal to ask on (see --password-file)")
        .map_err(config)?;
    let _guard = TerminalGuard::new(&tty);
    let line = rpassword::prompt_password(format!("{label}: ")).context("reading the password")?;
    Ok(Secret::new(line))
}

/// The password for one service, from the first source that has one.
pub(super) fn password(
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

pub(super) fn read_password_file(path: &Path) -> anyhow::Result<Secret> {
    let text = uidlmap::input::read_text(path, uidlmap::input::PASSWORD_FILE)?;
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        return Err(anyhow!(
            "{}: the first line (the password) is empty",
            path.display()
        ));
    }
    Ok(Secret::new(first.to_string()))
}
