//! `verify --accounts`: many accounts, `--jobs` at once, one JSON line each, with
//! `--shard` and `--resume`; and the progress line a terminal shows while reading.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use uidlmap::{input, migrate};

use super::url::{Proto, parse_url, redact_url};
use super::{VerifyArgs, bad_input, check_failed, runtime, settle_for, verdict, verify};

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
        {
            done.insert(n as usize);
        }
    }
    Ok(done)
}

/// Verifies every account of `--accounts`, `--jobs` at once, one JSON line each (to
/// `--output`, appended line by line so that `--resume` can skip what is done).
pub(super) fn run_accounts(args: &VerifyArgs, path: &Path) -> anyhow::Result<()> {
    let text = input::read_text(path, input::ACCOUNTS).map_err(bad_input)?;
    let mut accounts = parse_accounts(path, &text).map_err(bad_input)?;
    if accounts.is_empty() {
        return Err(bad_input(anyhow!(
            "{}: no accounts (expected one `IMAP_URL POP3_URL [PASSWORD_FILE]` per line)",
            path.display()
        )));
    }
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
                Ok(verified) => {
                    let (exit, why) = match verdict(&verified) {
                        Ok(()) => (0, None),
                        Err(e) => (super::super::exit_of(&e), Some(format!("{e:#}"))),
                    };
                    let mut value = serde_json::json!({
                        "account": a.line, "imap": redact_url(&a.imap), "pop3": redact_url(&a.pop3),
                        "exit": exit, "report": verified.report,
                    });
                    if let Some(why) = why {
                        value["verdict"] = why.into();
                    }
                    (exit, value)
                }
                Err(e) => (
                    2,
                    serde_json::json!({
                        "account": a.line, "imap": redact_url(&a.imap), "pop3": redact_url(&a.pop3),
                        "exit": 2, "error": format!("{e:#}"),
                    }),
                ),
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
pub(super) fn progress_line(p: &migrate::Progress) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let (pl, il) = (p.pop3_listed.load(Relaxed), p.imap_listed.load(Relaxed));
    let (pr, ir) = (p.pop3_read.load(Relaxed), p.imap_read.load(Relaxed));
    if pl == 0 && il == 0 {
        "uidlmap: listing IMAP and POP3…".to_string()
    } else {
        format!("uidlmap: headers read: POP3 {pr}/{pl}, IMAP {ir}/{il}")
    }
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
