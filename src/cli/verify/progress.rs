//! Progress on a terminal while `verify` reads: a bar of headers read with its ETA, and
//! for `--accounts` a bar of accounts with a line per account being read. Only drawn
//! when standard error is a terminal; the caller decides, and indicatif hides itself
//! on anything else too.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use uidlmap::migrate;

/// How often the bars are brought up to date from the readers' counters.
const TICK: Duration = Duration::from_millis(200);

/// A bar following one account's reading until [`Ticker::finish`].
pub(crate) struct Ticker {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    /// Starts following `progress` (inside the runtime): on its own line, or as one
    /// line of `multi`.
    pub(crate) fn start(
        multi: Option<&MultiProgress>,
        label: String,
        progress: Arc<migrate::Progress>,
    ) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let bar = match multi {
            Some(m) => m.add(bar),
            None => bar,
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix}{wide_msg} {bar:20} {percent:>3}% {per_sec:>10} ETA {eta}",
            )
            .expect("a valid template"),
        );
        bar.set_prefix(label);
        let b = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                update(&b, &progress);
                tokio::time::sleep(TICK).await;
            }
        });
        Ticker { bar, task }
    }

    pub(crate) fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

/// Headers to read are every message both sides list (the audit reads them all; without
/// it fewer are read, and the bar ends early).
fn update(bar: &ProgressBar, p: &migrate::Progress) {
    let (pl, il) = (p.pop3_listed.load(Relaxed), p.imap_listed.load(Relaxed));
    let (pr, ir) = (p.pop3_read.load(Relaxed), p.imap_read.load(Relaxed));
    bar.set_message(message(pl, il, pr, ir));
    if pl + il > 0 {
        bar.set_length(pl + il);
        bar.set_position(pr + ir);
    }
}

/// `listing…`, then `headers read: POP3 a/b, IMAP c/d`.
fn message(pl: u64, il: u64, pr: u64, ir: u64) -> String {
    if pl == 0 && il == 0 {
        "listing IMAP and POP3…".to_string()
    } else {
        format!("headers read: POP3 {pr}/{pl}, IMAP {ir}/{il}")
    }
}

/// The bar of accounts done, with its ETA, above the lines of accounts being read.
pub(super) fn accounts_bar(multi: &MultiProgress, total: usize) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(total as u64));
    bar.set_style(
        ProgressStyle::with_template(
            "uidlmap: {pos}/{len} accounts verified {bar:20} ETA {eta} {wide_msg}",
        )
        .expect("a valid template"),
    );
    // Drawn now, above the accounts' lines that come as they start.
    bar.tick();
    bar
}

/// The bars' shared drawing area; hidden unless `show`.
pub(super) fn multi(show: bool) -> MultiProgress {
    MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_says_what_is_read() {
        assert_eq!(message(0, 0, 0, 0), "listing IMAP and POP3…");
        assert_eq!(message(10, 12, 3, 4), "headers read: POP3 3/10, IMAP 4/12");
    }
}
