//! Where `verify` gets passwords, first that has one: the password file, the
//! environment, the Dovecot config, then a prompt on the terminal (never echoed).

use std::io::{self, BufRead, Write};
use std::path::Path;

use anyhow::{Context, anyhow};
use uidlmap::secret::Secret;

use super::url::Proto;

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
