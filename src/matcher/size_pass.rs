//! The positional size walk (spec §3), with every stop rule.
//!
//! No search, no re-alignment: position `i` of the POP3 list is compared with position
//! `i` of the IMAP list, and the walk stops at the first disagreement. Pairs made before
//! the stop are kept. Different messages that sit at the same position and have the same
//! size are paired silently: that is Dovecot's behaviour and the audit's first suspect.

/// One position's outcome in the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The IMAP message's cached UIDL equals the POP3 UIDL at this position.
    CachedMatch,
    /// Paired by size.
    SizeMatch,
}

/// Why the walk stopped before the end of the common prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Reached `min(|P|, |I|)`.
    End,
    /// The IMAP message has a cached UIDL that differs from the POP3 UIDL here.
    CachedMismatch,
    /// `skip_size_check` is on.
    SizeCheckSkipped,
    /// Sizes differ.
    SizeDiffers,
    /// The next POP3 message has the same size.
    EqualNextPop3Size,
}

/// The result of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeWalk {
    /// What happened at positions `0..stopped_at`.
    pub steps: Vec<Step>,
    /// `k`: the first position not settled.
    pub stopped_at: usize,
    pub stop: Stop,
    /// `k == n` and both lists have the same length: no header pass.
    pub complete: bool,
}

/// One POP3 map entry as the walk sees it.
#[derive(Clone, Copy, Debug)]
pub struct PopSide<'a> {
    pub uidl: &'a str,
    pub size: Option<u64>,
}

/// One IMAP message as the walk sees it.
#[derive(Clone, Copy, Debug)]
pub struct ImapSide<'a> {
    pub size: Option<u64>,
    pub cached_uidl: Option<&'a str>,
}

/// Runs the walk over `n_pop3` POP3 map entries and `n_imap` IMAP messages, read
/// through accessors so that no copy of either list is made (a million messages is a
/// case we plan for). A missing size (`None`) never equals anything, like Dovecot's
/// `(uoff_t)-1` placeholder when sizes were not read.
pub fn walk<'a>(
    n_pop3: usize,
    n_imap: usize,
    pop3: impl Fn(usize) -> PopSide<'a>,
    imap: impl Fn(usize) -> ImapSide<'a>,
    skip_size_check: bool,
) -> SizeWalk {
    let n = n_pop3.min(n_imap);
    let mut steps = Vec::new();
    let mut stop = Stop::End;
    for i in 0..n {
        let (p, m) = (pop3(i), imap(i));
        if let Some(cached) = m.cached_uidl {
            if cached == p.uidl {
                steps.push(Step::CachedMatch);
                continue;
            }
            stop = Stop::CachedMismatch;
            break;
        }
        if skip_size_check {
            stop = Stop::SizeCheckSkipped;
            break;
        }
        let (Some(ps), Some(ms)) = (p.size, m.size) else {
            stop = Stop::SizeDiffers;
            break;
        };
        if ps != ms {
            stop = Stop::SizeDiffers;
            break;
        }
        // Only the next POP3 neighbour, and only within the common prefix.
        if i + 1 < n && pop3(i + 1).size == Some(ps) {
            stop = Stop::EqualNextPop3Size;
            break;
        }
        steps.push(Step::SizeMatch);
    }
    let stopped_at = steps.len();
    SizeWalk {
        complete: stopped_at == n && n_pop3 == n_imap,
        steps,
        stopped_at,
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(pop3: &[PopSide<'_>], imap: &[ImapSide<'_>], skip: bool) -> SizeWalk {
        super::walk(pop3.len(), imap.len(), |i| pop3[i], |j| imap[j], skip)
    }

    fn p(sizes: &[u64]) -> Vec<PopSide<'static>> {
        sizes
            .iter()
            .map(|&s| PopSide {
                uidl: "u",
                size: Some(s),
            })
            .collect()
    }

    fn i(sizes: &[u64]) -> Vec<ImapSide<'static>> {
        sizes
            .iter()
            .map(|&s| ImapSide {
                size: Some(s),
                cached_uidl: None,
            })
            .collect()
    }

    #[test]
    fn stop_rules_table() {
        // (pop3 sizes, imap sizes, k, stop, complete)
        let cases: &[(&[u64], &[u64], usize, Stop, bool)] = &[
            (&[1, 2, 3], &[1, 2, 3], 3, Stop::End, true),
            (&[], &[], 0, Stop::End, true),
            // Sizes differ at position 1.
            (&[1, 2, 3], &[1, 9, 3], 1, Stop::SizeDiffers, false),
            // Equal next POP3 size stops at the first member of the pair.
            (
                &[1, 5, 5, 7],
                &[1, 5, 5, 7],
                1,
                Stop::EqualNextPop3Size,
                false,
            ),
            // Equal IMAP neighbours are never looked at.
            (&[1, 2, 3], &[1, 2, 3], 3, Stop::End, true),
            // The previous POP3 neighbour is not compared: [5, 5] stops at 0, not 1.
            (&[5, 5], &[5, 5], 0, Stop::EqualNextPop3Size, false),
            // The neighbour check ends at n: an extra POP3 message of equal size beyond
            // the common prefix is not noticed, but the count mismatch still leaves the
            // pass incomplete.
            (&[1, 4, 4], &[1, 4], 2, Stop::End, false),
            // One extra POP3 message at the end: prefix kept, incomplete.
            (&[1, 2, 3, 4], &[1, 2, 3], 3, Stop::End, false),
            // IMAP-only message at the start stops at 0.
            (&[2, 3], &[9, 2, 3], 0, Stop::SizeDiffers, false),
        ];
        for (ps, is, k, stop, complete) in cases {
            let w = walk(&p(ps), &i(is), false);
            assert_eq!(
                (w.stopped_at, w.stop, w.complete),
                (*k, *stop, *complete),
                "{ps:?} / {is:?}"
            );
        }
    }

    #[test]
    fn silent_wrong_pairing_of_equal_sizes_at_same_position() {
        // IMAP [A2, C, A] vs POP3 [A, C, A2], A and A2 the same size: all pair by size.
        let w = walk(&p(&[10, 20, 10]), &i(&[10, 20, 10]), false);
        assert!(w.complete);
        assert_eq!(w.steps, vec![Step::SizeMatch; 3]);
    }

    #[test]
    fn skip_size_check_honours_cached_prefix() {
        let pop3 = [
            PopSide {
                uidl: "a",
                size: None,
            },
            PopSide {
                uidl: "b",
                size: None,
            },
        ];
        let imap = [
            ImapSide {
                size: None,
                cached_uidl: Some("a"),
            },
            ImapSide {
                size: None,
                cached_uidl: None,
            },
        ];
        let w = walk(&pop3, &imap, true);
        assert_eq!((w.stopped_at, w.stop), (1, Stop::SizeCheckSkipped));
        assert_eq!(w.steps, vec![Step::CachedMatch]);
    }

    #[test]
    fn cached_mismatch_stops() {
        let pop3 = p(&[1, 2]);
        let imap = [
            ImapSide {
                size: Some(1),
                cached_uidl: Some("other"),
            },
            ImapSide {
                size: Some(2),
                cached_uidl: None,
            },
        ];
        let w = walk(&pop3, &imap, false);
        assert_eq!((w.stopped_at, w.stop), (0, Stop::CachedMismatch));
    }

    #[test]
    fn unknown_sizes_never_match() {
        let pop3 = [PopSide {
            uidl: "a",
            size: None,
        }];
        let imap = [ImapSide {
            size: None,
            cached_uidl: None,
        }];
        assert_eq!(walk(&pop3, &imap, false).stop, Stop::SizeDiffers);
    }
}
