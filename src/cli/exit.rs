//! How the process ends: the exit codes (the `sysexits.h` values doveadm also uses), their
//! one table (shown by `--help`, copied in the README, a test keeps them in step), the
//! markers commands put on errors, and the one classification of errors into codes.
//!
//! The classification reads typed errors first (IMAP, POP3, TLS, settings, scenario
//! files), then the markers commands put on their errors ([`Failure`]), then plain I/O
//! errors; an error none of them explains is a bug of ours (70).

use std::fmt;
use std::io;
use std::sync::{Arc, LazyLock};

use uidlmap::imap::client::ImapError;
use uidlmap::matcher::settings::SettingError;
use uidlmap::migrate::MigrateError;
use uidlmap::pop3::client::Pop3Error;
use uidlmap::pop3::codec::RespCode;
use uidlmap::scenario::ScenarioError;
use uidlmap::tls::TlsError;

/// How the process ends. The numbers are part of the interface: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    /// EX_USAGE
    Usage = 64,
    /// EX_DATAERR
    DataErr = 65,
    /// EX_NOINPUT
    NoInput = 66,
    /// EX_UNAVAILABLE
    Unavailable = 69,
    /// EX_SOFTWARE
    Software = 70,
    /// EX_IOERR
    IoErr = 74,
    /// EX_TEMPFAIL
    TempFail = 75,
    /// EX_PROTOCOL
    Protocol = 76,
    /// EX_NOPERM
    NoPerm = 77,
    /// EX_CONFIG
    Config = 78,
}

/// Every exit code with its meaning, in order: the source of `--help` and the README table.
pub const TABLE: &[(Exit, &str)] = &[
    (
        Exit::Success,
        "success: the command did its job and every check held (verify: Dovecot would carry every UIDL correctly)",
    ),
    (
        Exit::Failure,
        "failure: a check did not hold (run: a scenario's expectation was not met; conformance: a run disagrees with Dovecot; verify: Dovecot would fail, lose or mis-assign UIDLs)",
    ),
    (
        Exit::Usage,
        "bad usage: unknown option, missing or conflicting options, a malformed URL, --set or --shard",
    ),
    (
        Exit::DataErr,
        "bad input data: a malformed scenario, accounts, cache or hash input file",
    ),
    (
        Exit::NoInput,
        "an input file or folder does not exist or cannot be read",
    ),
    (
        Exit::Unavailable,
        "a server cannot be reached (refused, unknown host, connect timeout) or TLS failed (handshake, untrusted certificate); serve: a port cannot be bound; conformance: Dovecot is not usable here or a run could not be done",
    ),
    (
        Exit::Software,
        "internal error: a bug of uidlmap's, please report it",
    ),
    (
        Exit::IoErr,
        "a local I/O error: the output could not be written",
    ),
    (
        Exit::TempFail,
        "a temporary failure, worth trying later: the server is busy or the mailbox locked ([IN-USE], [LOGIN-DELAY], [UNAVAILABLE]), the connection dropped or a reply did not come in time",
    ),
    (
        Exit::Protocol,
        "a server broke the protocol or refused a needed command: malformed or unexpected replies, a missing capability (STARTTLS)",
    ),
    (
        Exit::NoPerm,
        "authentication failed: a server refused the user or the password",
    ),
    (
        Exit::Config,
        "bad configuration: an unknown or invalid setting (--set, --dovecot-conf), an unusable CA file, no password source",
    ),
];

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The `sysexits.h` name, where the code is one of them (for the README's table).
    #[cfg(test)]
    pub fn sysexits_name(self) -> Option<&'static str> {
        Some(match self {
            Exit::Success | Exit::Failure => return None,
            Exit::Usage => "EX_USAGE",
            Exit::DataErr => "EX_DATAERR",
            Exit::NoInput => "EX_NOINPUT",
            Exit::Unavailable => "EX_UNAVAILABLE",
            Exit::Software => "EX_SOFTWARE",
            Exit::IoErr => "EX_IOERR",
            Exit::TempFail => "EX_TEMPFAIL",
            Exit::Protocol => "EX_PROTOCOL",
            Exit::NoPerm => "EX_NOPERM",
            Exit::Config => "EX_CONFIG",
        })
    }
}

/// The README's table of exit codes, as [`TABLE`] says (a test compares them).
#[cfg(test)]
pub fn readme_table() -> String {
    let mut s = String::from("| code | sysexits.h | meaning |\n|---|---|---|\n");
    for (exit, meaning) in TABLE {
        s.push_str(&format!(
            "| {} | {} | {meaning} |\n",
            exit.code(),
            exit.sysexits_name().unwrap_or("")
        ));
    }
    s
}

/// The exit codes as `--help` shows them, at the end of every command's help.
pub static EXIT_CODES_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut s = String::from("Exit codes:");
    for (exit, meaning) in TABLE {
        s.push_str(&format!("\n  {:>2}  {meaning}", exit.code()));
    }
    s
});

/// An error that ends the process with a chosen exit code, unless a more specific error
/// inside it says otherwise. Its message is the wrapped error's, context chain included.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&message(&self.error))
    }
}

// No `source()`: Display already prints the wrapped chain, and `{:#}` on an outer
// anyhow error would print it twice. [`classify`] looks inside.
impl std::error::Error for Failure {}

/// An error shown in its own words (often Dovecot's), classified by the typed error
/// behind it. The cause is not printed: the words already say it, differently.
#[derive(Debug)]
pub struct Worded {
    pub text: String,
    pub cause: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl fmt::Display for Worded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Worded {}

/// Marks an error with the exit code it ends the process with.
pub fn marked(exit: Exit, error: impl Into<anyhow::Error>) -> anyhow::Error {
    Failure {
        exit,
        error: error.into(),
    }
    .into()
}

/// Marks an error as a failed check (exit code 1).
pub fn check_failed(error: impl Into<anyhow::Error>) -> anyhow::Error {
    marked(Exit::Failure, error)
}

/// Marks an error as bad input data (65); errors inside it that say more win.
pub fn bad_input(error: impl Into<anyhow::Error>) -> anyhow::Error {
    marked(Exit::DataErr, error)
}

/// Marks an error as bad usage of the command line (64).
pub fn usage(error: impl Into<anyhow::Error>) -> anyhow::Error {
    marked(Exit::Usage, error)
}

/// Marks an error as bad configuration (78).
pub fn config(error: impl Into<anyhow::Error>) -> anyhow::Error {
    marked(Exit::Config, error)
}

/// How sure a classification is: a typed error says exactly what happened, a marker what
/// the command was doing, a bare I/O error only roughly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sure {
    Io,
    Marker,
    Typed,
}

/// The one mapping from errors to exit codes.
pub fn classify(err: &anyhow::Error) -> Exit {
    match classify_chain(&mut err.chain()) {
        Some((exit, _)) => exit,
        // Every failure a user can cause is typed or marked; anything else is ours.
        None => Exit::Software,
    }
}

fn classify_chain<'a>(
    chain: &mut dyn Iterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> Option<(Exit, Sure)> {
    let mut weak = None;
    for e in chain {
        if let Some(f) = e.downcast_ref::<Failure>() {
            // A marker inside a marker, or a typed error, says more than this marker.
            return match classify_chain(&mut f.error.chain()) {
                Some(inner @ (_, Sure::Marker | Sure::Typed)) => Some(inner),
                _ => Some((f.exit, Sure::Marker)),
            };
        }
        if let Some(w) = e.downcast_ref::<Worded>() {
            let cause: &(dyn std::error::Error + 'static) = &*w.cause;
            return classify_chain(&mut std::iter::successors(Some(cause), |e| e.source()));
        }
        if let Some(exit) = typed(e) {
            return Some((exit, Sure::Typed));
        }
        if let Some(e) = e.downcast_ref::<io::Error>() {
            weak = weak.or(Some((io_exit(e), Sure::Io)));
        }
    }
    weak
}

/// The exit code of a typed error of the library, if `e` is one.
fn typed(e: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    if let Some(e) = e.downcast_ref::<MigrateError>() {
        return Some(match e {
            MigrateError::Imap { source, .. } | MigrateError::ImapStep { source, .. } => {
                imap_exit(source)
            }
            MigrateError::Pop3Audit { source, .. } => pop3_exit(source),
        });
    }
    if let Some(e) = e.downcast_ref::<ImapError>() {
        return Some(imap_exit(e));
    }
    if let Some(e) = e.downcast_ref::<Pop3Error>() {
        return Some(pop3_exit(e));
    }
    if let Some(e) = e.downcast_ref::<TlsError>() {
        return Some(tls_exit(e));
    }
    if e.downcast_ref::<SettingError>().is_some() {
        return Some(Exit::Config);
    }
    if let Some(e) = e.downcast_ref::<uidlmap::input::InputError>() {
        return Some(match e.io_kind() {
            Some(io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied) => Exit::NoInput,
            // Too large, not UTF-8, a folder, …: there, but not what was asked for.
            _ => Exit::DataErr,
        });
    }
    if let Some(e) = e.downcast_ref::<ScenarioError>() {
        return Some(match e {
            ScenarioError::Io { error, .. } => match io_exit(error) {
                Exit::IoErr => Exit::NoInput,
                other => other,
            },
            ScenarioError::Empty { .. } => Exit::NoInput,
            ScenarioError::Invalid(_) | ScenarioError::NotScenario { .. } => Exit::DataErr,
        });
    }
    None
}

fn io_exit(e: &io::Error) -> Exit {
    match e.kind() {
        // The reader of our output went away (`uidlmap hash --hex-lines … | head`): not
        // a failure of ours, and nobody is left to tell.
        io::ErrorKind::BrokenPipe => Exit::Success,
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Exit::NoInput,
        _ => Exit::IoErr,
    }
}

fn tls_exit(e: &TlsError) -> Exit {
    match e {
        TlsError::Handshake { .. } => Exit::Unavailable,
        TlsError::CaFile { .. }
        | TlsError::EmptyCaFile(_)
        | TlsError::BadRoot(_)
        | TlsError::NoRoots
        | TlsError::Config(_)
        | TlsError::ServerName(_) => Exit::Config,
    }
}

fn imap_exit(e: &ImapError) -> Exit {
    match e {
        ImapError::Connect { .. } | ImapError::TlsTimeout { .. } => Exit::Unavailable,
        ImapError::Tls(t) => tls_exit(t),
        ImapError::Io { .. }
        | ImapError::Timeout { .. }
        | ImapError::Deadline { .. }
        | ImapError::Closed { .. }
        | ImapError::Bye { .. } => Exit::TempFail,
        ImapError::Rejected { command, reply, .. } => {
            let r = reply.to_ascii_uppercase();
            if ["[UNAVAILABLE]", "[INUSE]", "[IN-USE]", "[LIMIT]"]
                .iter()
                .any(|c| r.contains(c))
            {
                Exit::TempFail
            } else if command.starts_with("LOGIN") || command.starts_with("AUTHENTICATE") {
                Exit::NoPerm
            } else {
                Exit::Protocol
            }
        }
        ImapError::Codec { .. }
        | ImapError::Greeting { .. }
        | ImapError::TooManyResponses { .. }
        | ImapError::TooManyExists { .. }
        | ImapError::Protocol { .. }
        | ImapError::NotSupported { .. }
        | ImapError::NotSelected { .. } => Exit::Protocol,
    }
}

fn pop3_exit(e: &Pop3Error) -> Exit {
    match e {
        Pop3Error::Connect { .. } => Exit::Unavailable,
        Pop3Error::Tls(t) => tls_exit(t),
        Pop3Error::Timeout { .. }
        | Pop3Error::Deadline { .. }
        | Pop3Error::Io { .. }
        | Pop3Error::Disconnected { .. } => Exit::TempFail,
        Pop3Error::Rejected { command, reply } => match &reply.code {
            Some(RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp) => Exit::TempFail,
            Some(RespCode::Auth) => Exit::NoPerm,
            _ if ["USER", "PASS", "APOP", "AUTH"]
                .iter()
                .any(|c| command.starts_with(c)) =>
            {
                Exit::NoPerm
            }
            _ => Exit::Protocol,
        },
        Pop3Error::Protocol { .. }
        | Pop3Error::DataBeforeTls { .. }
        | Pop3Error::NotSupported { .. }
        | Pop3Error::Unusable { .. } => Exit::Protocol,
        Pop3Error::InvalidArgument { .. } => Exit::Usage,
    }
}

/// The message printed for an error: its chain, each cause once. Typed errors already
/// quote their source in their own message; printing the chain as it is would repeat it.
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for e in err.chain() {
        let text = e.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_and_complete() {
        let codes: Vec<u8> = TABLE.iter().map(|(e, _)| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted, "TABLE in code order, each code once");
        // A new variant breaks this match, and so leads here to add its line.
        for (exit, _) in TABLE {
            match exit {
                Exit::Success
                | Exit::Failure
                | Exit::Usage
                | Exit::DataErr
                | Exit::NoInput
                | Exit::Unavailable
                | Exit::Software
                | Exit::IoErr
                | Exit::TempFail
                | Exit::Protocol
                | Exit::NoPerm
                | Exit::Config => {}
            }
        }
        assert_eq!(TABLE.len(), 12);
    }

    #[test]
    fn readme_lists_the_same_codes() {
        let readme = include_str!("../../README.md");
        let start = "<!-- exit-codes:start -->\n";
        let from = readme.find(start).expect("README has the exit codes table") + start.len();
        let to = readme[from..]
            .find("<!-- exit-codes:end -->")
            .expect("its end")
            + from;
        assert_eq!(
            &readme[from..to],
            readme_table(),
            "README.md's exit code table must be, between its markers:\n{}",
            readme_table()
        );
    }

    #[test]
    fn inner_markers_and_typed_errors_win() {
        let e = bad_input(config(anyhow::anyhow!("x")));
        assert_eq!(classify(&e), Exit::Config);
        let io = io::Error::new(io::ErrorKind::NotFound, "gone");
        assert_eq!(classify(&anyhow::Error::new(io)), Exit::NoInput);
        let io = io::Error::new(io::ErrorKind::NotFound, "gone");
        assert_eq!(
            classify(&marked(Exit::IoErr, anyhow::Error::new(io))),
            Exit::IoErr,
            "a marker says more than a bare I/O error"
        );
        let refused = ImapError::Connect {
            server: "h:143".into(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(
            classify(&bad_input(anyhow::Error::new(refused))),
            Exit::Unavailable
        );
        assert_eq!(classify(&anyhow::anyhow!("what?")), Exit::Software);
    }

    #[test]
    fn message_names_each_cause_once() {
        let refused = ImapError::Connect {
            server: "h:143".into(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
        };
        let e = anyhow::Error::new(refused).context("verification failed");
        assert_eq!(
            message(&e),
            "verification failed: connecting to h:143: refused"
        );
        let err = bad_input(anyhow::anyhow!("line 3: bad hex")).context("reading input.txt");
        assert_eq!(message(&err), "reading input.txt: line 3: bad hex");
        let refused = ImapError::Connect {
            server: "h:143".into(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
        };
        let marked = bad_input(anyhow::Error::new(refused));
        assert_eq!(
            message(&marked),
            "connecting to h:143: refused",
            "inside a marker too"
        );
    }
}
