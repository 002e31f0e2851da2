//! `uidlmap verify`'s password prompt on a real terminal (a pseudo-terminal made here):
//! no echo while typing, and the terminal as it was afterwards, after Ctrl-C too.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::command;

/// A pseudo-terminal: the master end to type into, the slave end the child's terminal.
struct Pty {
    master: File,
    slave: File,
}

fn pty() -> Pty {
    // SAFETY: plain libc calls; every descriptor is checked and owned by a File.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0, "open the slave");
        Pty {
            master: File::from_raw_fd(m),
            slave: File::from_raw_fd(s),
        }
    }
}

fn lflag(f: &File) -> libc::tcflag_t {
    // SAFETY: tcgetattr fills plain data on an open terminal.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) }, 0);
    t.c_lflag
}

/// Everything the child wrote to its terminal so far, read by a thread.
fn reader(master: &File) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (mut m, s) = (master.try_clone().expect("clone"), seen.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        // Ends with EIO once no process holds the slave open.
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

fn wait_for(seen: &Mutex<Vec<u8>>, text: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if String::from_utf8_lossy(&seen.lock().unwrap()).contains(text) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no {text:?} on the terminal: {:?}",
        String::from_utf8_lossy(&seen.lock().unwrap())
    );
}

/// Waits until the prompt has turned echo off: the prompt is written just before, and
/// what is typed in between would be echoed (by the terminal, as for any program).
fn wait_for_no_echo(slave: &File) {
    let until = Instant::now() + Duration::from_secs(20);
    while lflag(slave) & libc::ECHO != 0 {
        assert!(Instant::now() < until, "echo never turned off");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `uidlmap verify` with the pty as its controlling terminal and no password given.
fn verify_on(pty: &Pty) -> std::process::Child {
    let mut cmd = command();
    cmd.args([
        "verify",
        "--retries",
        "0",
        "--imap",
        "imap://alice@127.0.0.1:1",
        "--pop3",
        "pop3://alice@127.0.0.1:1",
    ]);
    let slave = |f: &File| std::process::Stdio::from(f.try_clone().expect("clone"));
    cmd.stdin(slave(&pty.slave))
        .stdout(slave(&pty.slave))
        .stderr(slave(&pty.slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("run uidlmap")
}

#[test]
fn ctrl_c_at_the_prompt_restores_the_terminal() {
    let pty = pty();
    let before = lflag(&pty.slave);
    assert_ne!(before & libc::ECHO, 0, "a fresh terminal echoes");
    let seen = reader(&pty.master);
    let mut child = verify_on(&pty);
    wait_for(&seen, "IMAP password for alice@127.0.0.1: ");
    wait_for_no_echo(&pty.slave);
    (&pty.master).write_all(b"sec").expect("type");
    (&pty.master).write_all(&[3]).expect("Ctrl-C");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert_eq!(lflag(&pty.slave), before, "the terminal as it was");
    assert!(!String::from_utf8_lossy(&seen.lock().unwrap()).contains("sec"));
}

#[test]
fn a_typed_password_is_not_echoed_and_the_terminal_is_restored() {
    let pty = pty();
    let before = lflag(&pty.slave);
    let seen = reader(&pty.master);
    let mut child = verify_on(&pty);
    wait_for(&seen, "IMAP password for alice@127.0.0.1: ");
    wait_for_no_echo(&pty.slave);
    (&pty.master).write_all(b"first-secret\r").expect("type");
    wait_for(&seen, "POP3 password for alice@127.0.0.1: ");
    wait_for_no_echo(&pty.slave);
    (&pty.master).write_all(b"second-secret\r").expect("type");
    let status = child.wait().expect("wait");
    // Nobody listens on port 1: EX_UNAVAILABLE, after both prompts.
    assert_eq!(status.code(), Some(69), "{status:?}");
    assert_eq!(lflag(&pty.slave), before);
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(!text.contains("secret"), "{text}");
}
