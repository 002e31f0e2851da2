//! `verify --accounts`: many accounts, `--jobs` at once, one JSON line each, with
//! `--shard` and `--resume` (which tries errored accounts again), and the tally at the end.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use uidlmap::input;

use super::progress;
use super::url::{Proto, parse_url, redact_url};
use super::{Plan, VerifyArgs, runtime, settle_for, verdict, verify};
use crate::cli::exit::{self, Exit, marked};
use crate::cli::{bad_input, check_failed, usage};

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

/// Accounts with a result in a JSON Lines result file (for --resume): a verdict, not an
/// error (an account that could not be read is tried again).
fn done_accounts(path: &Path) -> anyhow::Result<std::collections::BTreeSet<usize>> {
    let text = match input::read_text(path, input::CACHE) {
        Ok(t) => t,
        Err(e) if e.io_kind() == Some(io::ErrorKind::NotFound) => return Ok(Default::default()),
        Err(e) => return Err(e.into()),
    };
    let mut done = std::collections::BTreeSet::new();
    for line in text.lines() {
        // A line cut short by an interrupted run is simply done again.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(n) = v.get("account").and_then(|a| a.as_u64())
            && v.get("report").is_some()
        {
            done.insert(n as usize);
        }
    }
    Ok(done)
}

/// How the accounts of a run ended, for the line printed at the end.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    right: usize,
    wrong: usize,
    /// Errors by exit code.
    errors: std::collections::BTreeMap<u8, usize>,
    /// Accounts skipped by --resume.
    skipped: usize,
}

impl Tally {
    fn add(&mut self, exit: Exit) {
        match exit {
            Exit::Success => self.right += 1,
            Exit::Failure => self.wrong += 1,
            other => *self.errors.entry(other.code()).or_default() += 1,
        }
    }

    /// The process's exit code: the largest of the accounts' (errors before doubts).
    fn exit(&self) -> Exit {
        let code = self.errors.keys().next_back().copied();
        match code.and_then(|c| exit::TABLE.iter().find(|(e, _)| e.code() == c)) {
            Some((e, _)) => *e,
            None if self.wrong > 0 => Exit::Failure,
            None => Exit::Success,
        }
    }

    /// `12 accounts: 9 right, 2 would go wrong, 1 error (77: 1)`.
    fn line(&self) -> String {
        let errors: usize = self.errors.values().sum();
        let mut s = format!(
            "{} accounts: {} right, {} would go wrong, {} error{}",
            self.right + self.wrong + errors,
            self.right,
            self.wrong,
            errors,
            if errors == 1 { "" } else { "s" }
        );
        if errors > 0 {
            let by: Vec<String> = self
                .errors
                .iter()
                .map(|(code, n)| format!("exit {code}: {n}"))
                .collect();
            s.push_str(&format!(" ({})", by.join(", ")));
        }
        if self.skipped > 0 {
            s.push_str(&format!("; {} already done (--resume)", self.skipped));
        }
        s
    }
}

/// Verifies every account of `--accounts`, `--jobs` at once, one JSON line each (to
/// `--output`, appended line by line so that `--resume` can skip what is done).
pub(super) fn run_accounts(args: &VerifyArgs, path: &Path) -> anyhow::Result<()> {
    let text = input::read_text(path, input::ACCOUNTS)?;
    let mut accounts = parse_accounts(path, &text).map_err(bad_input)?;
    if accounts.is_empty() {
        return Err(bad_input(anyhow!(
            "{}: no accounts (expected one `IMAP_URL POP3_URL [PASSWORD_FILE]` per line)",
            path.display()
        )));
    }
    if let Some(shard) = &args.shard {
        let (i, n) = parse_shard(shard).map_err(usage)?;
        accounts = accounts
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % n == i)
            .map(|(_, a)| a)
            .collect();
    }
    let mut tally = Tally::default();
    if args.resume {
        let out = args
            .output
            .as_deref()
            .ok_or_else(|| usage(anyhow!("--resume needs --output")))?;
        let done = done_accounts(out).map_err(|e| marked(Exit::IoErr, e))?;
        let before = accounts.len();
        accounts.retain(|a| !done.contains(&a.line));
        tally.skipped = before - accounts.len();
    }
    // Settle everything first: bad input or a password prompt before any connection.
    let mut plans = Vec::new();
    for a in &accounts {
        let pw = a
            .password_file
            .as_deref()
            .or(args.conn.password_file.as_deref());
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
                .with_context(|| format!("opening {}", p.display()))
                .map_err(|e| marked(Exit::IoErr, e))?,
        ),
        None => Box::new(io::stdout()),
    };
    let show = io::IsTerminal::is_terminal(&io::stderr());
    let tally = runtime()?.block_on(verify_all(
        plans,
        args.jobs.max(1) as usize,
        sink,
        show,
        tally,
    ))?;
    eprintln!("uidlmap: {}", tally.line());
    match tally.exit() {
        Exit::Success => Ok(()),
        Exit::Failure => Err(check_failed(anyhow!(
            "Dovecot would not carry every UIDL right for some accounts (\"exit\": 1)"
        ))),
        other => Err(marked(
            other,
            anyhow!(
                "some accounts could not be verified (their lines hold \"error\"); the largest exit code was {}",
                other.code()
            ),
        )),
    }
}

/// Verifies the accounts, `jobs` at once, writing each result as it comes.
async fn verify_all(
    plans: Vec<(Account, Plan)>,
    jobs: usize,
    sink: Box<dyn Write + Send>,
    show: bool,
    mut tally: Tally,
) -> anyhow::Result<Tally> {
    let multi = progress::multi(show);
    let overall = progress::accounts_bar(&multi, plans.len());
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for (a, plan) in plans {
        let (sem, multi) = (sem.clone(), multi.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let label = format!("  account {} ({}): ", a.line, redact_url(&a.imap));
            let ticker = show
                .then(|| progress::Ticker::start(Some(&multi), label, plan.opts.progress.clone()));
            let r = verify(&plan).await;
            if let Some(t) = ticker {
                t.finish();
            }
            (a, r)
        });
    }
    let mut sink = sink;
    while let Some(joined) = set.join_next().await {
        let (a, r) = joined.context("an account's task panicked")?;
        let mut value = serde_json::json!({
            "account": a.line, "imap": redact_url(&a.imap), "pop3": redact_url(&a.pop3),
        });
        let exit = match r {
            Ok(verified) => {
                let exit = match verdict(&verified) {
                    Ok(()) => Exit::Success,
                    Err(e) => {
                        value["verdict"] = exit::message(&e).into();
                        exit::classify(&e)
                    }
                };
                value["exit"] = exit.code().into();
                value["report"] = serde_json::to_value(&verified.report)?;
                exit
            }
            Err(e) => {
                let exit = exit::classify(&e);
                value["exit"] = exit.code().into();
                value["error"] = exit::message(&e).into();
                exit
            }
        };
        tally.add(exit);
        writeln!(sink, "{value}")?;
        sink.flush()?;
        overall.inc(1);
    }
    overall.finish_and_clear();
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
