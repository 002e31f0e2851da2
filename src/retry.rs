//! The one retry policy: how often a step that failed for a passing reason (a busy
//! server, a dropped connection) is tried again, and how long to wait between tries.
//! Logins use it inside `migrate`; `verify` uses it around a whole read.

use std::future::Future;
use std::time::Duration;

/// Tries again after temporary failures, the delay doubling each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Tries after the first (0: never, as Dovecot).
    pub retries: u32,
    /// The first delay before a retry.
    pub delay: Duration,
}

impl Default for Retry {
    /// Never: Dovecot itself does not retry.
    fn default() -> Self {
        Retry {
            retries: 0,
            delay: Duration::from_secs(1),
        }
    }
}

/// The longest wait between two tries, however many retries came before.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

impl Retry {
    /// The wait before try `tries + 1` (after `tries` retries already made): the
    /// first delay doubled each time, never more than [`MAX_DELAY`].
    pub fn delay_before(&self, tries: u32) -> Duration {
        self.delay
            .saturating_mul(2u32.saturating_pow(tries.min(31)))
            .min(MAX_DELAY)
    }

    /// No retries (for a step whose caller retries around it).
    pub fn none(&self) -> Retry {
        Retry {
            retries: 0,
            ..*self
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been retried
    /// `retries` times after failures `temporary` accepts; `on_retry` hears of each
    /// failure that is retried, with the retry's number (1-based) and the wait before it.
    pub async fn run<T, E, Fut>(
        &self,
        temporary: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(&E, u32, Duration),
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(err) if temporary(&err) && tries < self.retries => {
                    let wait = self.delay_before(tries);
                    on_retry(&err, tries + 1, wait);
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_temporary_failures_only() {
        let r = Retry {
            retries: 2,
            delay: Duration::from_millis(10),
        };
        assert_eq!(r.delay_before(2), Duration::from_millis(40));
        assert_eq!(r.delay_before(40), MAX_DELAY);
        let huge = Retry {
            retries: 1,
            delay: Duration::from_secs(u64::MAX / 4),
        };
        assert_eq!(huge.delay_before(3), MAX_DELAY);
        let mut tries = 0;
        let mut heard = 0;
        let got: Result<(), bool> = r
            .run(
                |&temp| temp,
                |_, n, _| {
                    heard += 1;
                    assert_eq!(n, heard);
                },
                || {
                    tries += 1;
                    async { Err(true) }
                },
            )
            .await;
        assert_eq!((got, tries, heard), (Err(true), 3, 2));
        let mut tries = 0;
        let got: Result<(), bool> = r
            .run(
                |&temp| temp,
                |_, _, _| {},
                || {
                    tries += 1;
                    async { Err(false) }
                },
            )
            .await;
        assert_eq!((got, tries), (Err(false), 1));
    }
}
