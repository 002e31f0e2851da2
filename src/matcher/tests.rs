//! Whole-matcher tests: the end-to-end observations of the spec, replayed on the pure
//! functions. Message contents are stood in for by their header hashes.

use super::audit::{self, Cause, Expected, Recommendation, Truth, Verdict};
use super::*;

/// A stand-in header hash for a message called `name`.
fn h(name: &str) -> Sha1 {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, name.as_bytes());
    d.as_ref().try_into().unwrap()
}

/// A test mailbox: (name, messages as (content, size)).
struct World {
    imap: Vec<(&'static str, Vec<(&'static str, u64)>)>,
    pop3: Vec<(&'static str, &'static str, u64)>, // (content, uidl, size)
}

impl World {
    fn listing(&self) -> Listing {
        Listing {
            imap: self
                .imap
                .iter()
                .map(|(name, msgs)| ImapMailbox {
                    name: name.to_string(),
                    messages: msgs
                        .iter()
                        .enumerate()
                        .map(|(i, (_, size))| ImapMessage {
                            uid: i as u32 + 1,
                            size: Some(*size),
                            cached_uidl: None,
                        })
                        .collect(),
                    size_failure: None,
                })
                .collect(),
            pop3: self
                .pop3
                .iter()
                .enumerate()
                .map(|(i, (_, uidl, size))| Pop3Message {
                    number: i as u32 + 1,
                    uidl: uidl.to_string(),
                    size: Some(*size),
                })
                .collect(),
            pop3_error: None,
        }
    }

    /// Header reads of every message.
    fn reads(&self) -> Reads {
        let mut r = Reads::default();
        for (i, (content, _, _)) in self.pop3.iter().enumerate() {
            r.pop3.insert(i as u32 + 1, MessageRead::hashed(h(content)));
        }
        for (name, msgs) in &self.imap {
            for (i, (content, _)) in msgs.iter().enumerate() {
                r.insert_imap(name, i as u32 + 1, MessageRead::hashed(h(content)));
            }
        }
        r
    }

    /// Ground truth by content name.
    fn truth(&self) -> Truth {
        let mut t = Truth::new();
        for (name, msgs) in &self.imap {
            for (i, (content, _)) in msgs.iter().enumerate() {
                let e = match self.pop3.iter().position(|(c, _, _)| c == content) {
                    Some(p) => Expected::Pop3 {
                        uidl: self.pop3[p].1.to_string(),
                        number: p as u32 + 1,
                    },
                    None => Expected::None,
                };
                t.insert((name.to_string(), i as u32 + 1), e);
            }
        }
        t
    }
}

fn uidls<'a>(o: &Outcome<'a>, mailbox: &str) -> Vec<(Option<&'a str>, u32)> {
    o.mailboxes
        .iter()
        .find(|m| m.name == mailbox)
        .unwrap()
        .messages
        .iter()
        .map(|a| (a.uidl, a.order))
        .collect()
}

fn run<'a>(listing: &'a Listing, settings: &Settings, reads: &Reads) -> Outcome<'a> {
    let p = plan(listing, settings);
    // The plan must only ask for reads that exist; resolve checks it.
    resolve(&p, reads).unwrap()
}

#[test]
fn identical_views_pair_by_size_without_headers() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 20), ("c", 30)])],
        pop3: vec![("a", "ua", 10), ("b", "ub", 20), ("c", "uc", 30)],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    assert!(!p.needs_headers());
    let o = resolve(&p, &Reads::default()).unwrap();
    assert_eq!(
        uidls(&o, "INBOX"),
        [(Some("ua"), 1), (Some("ub"), 2), (Some("uc"), 3)]
    );
    assert_eq!(o.result, DoveadmResult::Success);
    assert_eq!(
        o.log[0].text,
        "pop3_migration: cached uidls=0, size matches=3, total=3"
    );
}

#[test]
fn reversed_order_pairs_by_header_and_keeps_pop3_order() {
    // Spec §6: POP3 order [C, A, B], IMAP [A, B, C] → A=O2, B=O3, C=O1.
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 20), ("c", 30)])],
        pop3: vec![("c", "uc", 30), ("a", "ua", 10), ("b", "ub", 20)],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    assert_eq!(p.pop3_reads().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(p.imap_reads().count(), 3);
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(
        uidls(&o, "INBOX"),
        [(Some("ua"), 2), (Some("ub"), 3), (Some("uc"), 1)]
    );
    assert_eq!(
        o.log.last().unwrap().text,
        "pop3_migration: 3 mails matched by headers"
    );
}

#[test]
fn equal_sizes_at_same_position_pair_silently_wrong() {
    // Spec §3: IMAP [A2, C, A] vs POP3 [A, C, A2], A and A2 of one size.
    let w = World {
        imap: vec![("INBOX", vec![("a2", 10), ("c", 30), ("a", 10)])],
        pop3: vec![("a", "ua", 10), ("c", "uc", 30), ("a2", "ua2", 10)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(uidls(&o, "INBOX")[0], (Some("ua"), 1));
    assert_eq!(o.result.exit_code(), 0);
    let a = audit::audit(&l, &o, &w.reads(), Some(&w.truth()), &[]).unwrap();
    assert_eq!(a.counts.wrong, 2);
    assert!(
        a.messages
            .iter()
            .filter(|m| m.verdict == Verdict::Wrong)
            .all(|m| m.cause == Some(Cause::PositionalSizePairing))
    );
    // skip_size_check alone fixes it: the header pass pairs by content.
    match a.recommendation {
        Recommendation::Change(t) => {
            assert_eq!(t.changes, [("skip_size_check".to_string(), true)]);
        }
        other => panic!("{other:?}"),
    }
    // Content truth (no ground truth given) sees the same.
    let a2 = audit::audit(&l, &o, &w.reads(), None, &[]).unwrap();
    assert_eq!(a2.counts.wrong, 2);
}

#[test]
fn extra_pop3_message_fails_unless_ignore_extra_uidls() {
    // A racing delivery: POP3 has one more message at the end.
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 20), ("c", 30)])],
        pop3: vec![
            ("a", "ua", 10),
            ("b", "ub", 20),
            ("c", "uc", 30),
            ("d", "ud", 40),
        ],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    // Prefix kept; only the tail is read.
    assert_eq!(p.mailboxes[0].walk.stopped_at, 3);
    assert_eq!(p.pop3_reads().collect::<Vec<_>>(), [4]);
    assert_eq!(p.imap_reads().count(), 0);
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(o.result.exit_code(), 75);
    let err = o.problems().next().unwrap();
    assert_eq!(err.level, Level::Error);
    assert_eq!(
        err.text,
        "pop3_migration: 1 POP3 messages have no matching IMAP messages (first POP3 msg 4 UIDL ud) - all IMAP messages were found (POP3 contains more than IMAP INBOX - you may want to set pop3_migration_all_mailboxes=yes) - set pop3_migration_ignore_missing_uidls=yes or pop3_migration_ignore_extra_uidls=yes to continue anyway"
    );
    assert_eq!(o.mailboxes[0].status, SyncStatus::Failed);
    assert!(!o.mailboxes[0].copied);

    let mut s = Settings::enabled();
    s.ignore_extra_uidls = true;
    let o = run(&l, &s, &w.reads());
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(o.problems().next().unwrap().level, Level::Warning);
    assert_eq!(uidls(&o, "INBOX")[2], (Some("uc"), 3));
}

#[test]
fn extra_on_both_sides_still_fails_with_ignore_extra() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("e", 50)])],
        pop3: vec![("a", "ua", 10), ("d", "ud", 40)],
    };
    let l = w.listing();
    let mut s = Settings::enabled();
    s.ignore_extra_uidls = true;
    let o = run(&l, &s, &w.reads());
    assert_eq!(o.result.exit_code(), 75);
    s.ignore_missing_uidls = true;
    let o = run(&l, &s, &w.reads());
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(uidls(&o, "INBOX"), [(Some("ua"), 1), (None, 0)]);
}

#[test]
fn duplicates_pair_in_list_order() {
    // Spec §4.5: IMAP [D1, D2] vs POP3 [D2, D1], same headers, sizes differ → swapped.
    let w = World {
        imap: vec![("INBOX", vec![("d", 10), ("d", 20)])],
        pop3: vec![("d", "u-d2", 20), ("d", "u-d1", 10)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(uidls(&o, "INBOX"), [(Some("u-d2"), 1), (Some("u-d1"), 2)]);
}

#[test]
fn empty_uidl_shifts_hashes() {
    // Spec §9: POP3 ["", u2, u3] over IMAP [A, B, C] → A→u2, B→u3, C→none, exit 0.
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 10), ("c", 10)])],
        pop3: vec![("a", "", 10), ("b", "u2", 10), ("c", "u3", 10)],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    // Only numbers 1..=|map| = 1..=2 are read: the last POP3 message never is.
    assert_eq!(p.pop3_reads().collect::<Vec<_>>(), [1, 2]);
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(
        uidls(&o, "INBOX"),
        [(Some("u2"), 2), (Some("u3"), 3), (None, 0)]
    );
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(o.log[0].text, "pop3_migration: UIDL for msg 1 is empty");
    let a = audit::audit(&l, &o, &w.reads(), Some(&w.truth()), &[]).unwrap();
    assert_eq!(a.counts.wrong, 2);
    assert!(
        a.messages
            .iter()
            .filter(|m| m.verdict == Verdict::Wrong)
            .all(|m| m.cause == Some(Cause::EmptyUidlShift))
    );
}

#[test]
fn cache_walk_loses_order_and_fails_after_a_shift() {
    // Spec §7: three cached, unchanged POP3: 1 linked, order lost on the other two.
    let mut w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 20), ("c", 30)])],
        pop3: vec![
            ("a", "uidl-a", 10),
            ("b", "uidl-b", 20),
            ("c", "uidl-c", 30),
        ],
    };
    let mut l = w.listing();
    for (m, u) in l.imap[0]
        .messages
        .iter_mut()
        .zip(["uidl-a", "uidl-b", "uidl-c"])
    {
        m.cached_uidl = Some(u.to_string());
    }
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(
        uidls(&o, "INBOX"),
        [
            (Some("uidl-a"), 1),
            (Some("uidl-b"), 0),
            (Some("uidl-c"), 0)
        ]
    );
    assert_eq!(o.mailboxes[0].cached_uidls, 3);
    let a = audit::audit(&l, &o, &w.reads(), Some(&w.truth()), &[]).unwrap();
    assert_eq!(a.counts.order_lost, 2);
    match &a.recommendation {
        Recommendation::Change(t) => assert_eq!(t.changes, [("skip_uidl_cache".to_string(), true)]),
        other => panic!("{other:?}"),
    }

    // One message removed from POP3 but still in IMAP: the header pass runs and the
    // messages whose UIDL is cached on an IMAP message count as missing.
    w.pop3.remove(1);
    let mut l = w.listing();
    for (m, u) in l.imap[0]
        .messages
        .iter_mut()
        .zip(["uidl-a", "uidl-b", "uidl-c"])
    {
        m.cached_uidl = Some(u.to_string());
    }
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(o.result.exit_code(), 75);
    assert!(
        o.problems()
            .next()
            .unwrap()
            .text
            .contains("(first POP3 msg 2 UIDL uidl-c)")
    );
    let mut s = Settings::enabled();
    s.skip_uidl_cache = true;
    let o = run(&l, &s, &w.reads());
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(
        uidls(&o, "INBOX"),
        [(Some("uidl-a"), 1), (None, 0), (Some("uidl-c"), 2)]
    );
}

#[test]
fn failed_inbox_stops_later_folders() {
    let w = World {
        imap: vec![
            ("Alpha", vec![("x", 1)]),
            ("INBOX", vec![("a", 10)]),
            ("Sent", vec![("y", 2)]),
            ("archive", vec![("z", 3)]),
        ],
        pop3: vec![("a", "ua", 10), ("d", "ud", 40)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::enabled(), &w.reads());
    let st: Vec<_> = o
        .mailboxes
        .iter()
        .map(|m| (m.name.as_str(), m.status, m.copied))
        .collect();
    assert_eq!(
        st,
        [
            ("Alpha", SyncStatus::NotHandled, true),
            ("INBOX", SyncStatus::Failed, false),
            ("Sent", SyncStatus::NotReached, false),
            ("archive", SyncStatus::NotReached, false),
        ]
    );
}

#[test]
fn empty_inbox_failure_is_silent() {
    let w = World {
        imap: vec![("INBOX", vec![]), ("Sent", vec![("y", 2)])],
        pop3: vec![("a", "ua", 10)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(o.mailboxes[0].status, SyncStatus::Failed);
    assert!(
        o.problems()
            .any(|l| l.text.contains("1 POP3 messages have no matching"))
    );
}

#[test]
fn all_mailboxes_abort_when_first_folder_settles_by_size() {
    let w = World {
        imap: vec![("Archive", vec![("a", 10)]), ("INBOX", vec![("b", 20)])],
        pop3: vec![("a", "ua", 10)],
    };
    let l = w.listing();
    let mut s = Settings::enabled();
    s.all_mailboxes = true;
    let p = plan(&l, &s);
    assert!(!p.mailboxes[0].header_pass);
    assert!(p.mailboxes[1].aborts);
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(
        o.result,
        DoveadmResult::Abort {
            mailbox: "INBOX".into()
        }
    );
    assert_eq!(uidls(&o, "Archive"), [(Some("ua"), 1)]);
}

#[test]
fn all_mailboxes_matches_each_folder_against_whole_pop3() {
    // Gmail-like: POP3 shows INBOX and Sent.
    let w = World {
        imap: vec![("INBOX", vec![("a", 10)]), ("Sent", vec![("s", 30)])],
        pop3: vec![("s", "us", 30), ("a", "ua", 10)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::enabled(), &w.reads());
    assert_eq!(o.result.exit_code(), 75);
    let mut s = Settings::enabled();
    s.all_mailboxes = true;
    let p = plan(&l, &s);
    // INBOX goes first and reads all POP3 headers; Sent reuses them.
    assert_eq!(p.mailboxes[0].pop3_reads, [1, 2]);
    assert!(p.mailboxes[1].pop3_reads.is_empty());
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(uidls(&o, "INBOX"), [(Some("ua"), 2)]);
    assert_eq!(uidls(&o, "Sent"), [(Some("us"), 1)]);
}

#[test]
fn truncated_header_needs_full_read_and_warns() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10), ("b", 10)])],
        pop3: vec![("b", "ub", 10), ("a", "ua", 10)],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    let mut r = w.reads();
    r.imap_get_mut("INBOX", 1).unwrap().header = Read::Hashed {
        sha1: h("partial"),
        eoh: false,
    };
    assert_eq!(
        resolve(&p, &r),
        Err(ResolveError::MissingImapFull("INBOX".into(), 1))
    );
    r.imap_get_mut("INBOX", 1).unwrap().full = Some(Box::new(Read::Hashed {
        sha1: h("a"),
        eoh: false,
    }));
    let o = resolve(&p, &r).unwrap();
    assert_eq!(uidls(&o, "INBOX"), [(Some("ua"), 2), (Some("ub"), 1)]);
    assert!(
        o.log
            .iter()
            .any(|l| l.text == "pop3_migration: Truncated email with UID 1 stored as truncated")
    );
}

#[test]
fn expunged_pop3_message_is_not_missing() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10)])],
        pop3: vec![("b", "ub", 5), ("a", "ua", 10)],
    };
    let l = w.listing();
    let mut r = w.reads();
    r.pop3.get_mut(&1).unwrap().header = Read::Expunged {
        reason: "-ERR no such message".into(),
    };
    let o = run(&l, &Settings::enabled(), &r);
    assert_eq!(o.result.exit_code(), 0);
    assert_eq!(uidls(&o, "INBOX"), [(Some("ua"), 2)]);
    assert!(o.log.iter().any(|l| l.level == Level::Error
        && l.text == "pop3_migration: Failed to get header for msg 1: -ERR no such message"));
    r.pop3.get_mut(&1).unwrap().header = Read::Failed {
        reason: "Disconnected".into(),
    };
    let o = run(&l, &Settings::enabled(), &r);
    assert_eq!(o.result.exit_code(), 75);
}

#[test]
fn pop3_listing_error_fails_first_acted_mailbox() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10)])],
        pop3: vec![],
    };
    let mut l = w.listing();
    l.pop3_error = Some("pop3c(127.0.0.1:110): Authentication failed".into());
    let o = run(&l, &Settings::enabled(), &Reads::default());
    assert_eq!(o.result.exit_code(), 75);
    assert_eq!(o.log[0].text, "pop3c(127.0.0.1:110): Authentication failed");
}

#[test]
fn plugin_disabled_copies_without_uidls() {
    let w = World {
        imap: vec![("INBOX", vec![("a", 10)])],
        pop3: vec![("a", "ua", 10)],
    };
    let l = w.listing();
    let o = run(&l, &Settings::default(), &Reads::default());
    assert_eq!(o.mailboxes[0].status, SyncStatus::NotHandled);
    assert_eq!(uidls(&o, "INBOX"), [(None, 0)]);
}

#[test]
fn imap_only_message_at_start_sends_everything_to_headers() {
    let w = World {
        imap: vec![("INBOX", vec![("new", 5), ("a", 10), ("b", 20)])],
        pop3: vec![("a", "ua", 10), ("b", "ub", 20)],
    };
    let l = w.listing();
    let p = plan(&l, &Settings::enabled());
    assert_eq!(p.mailboxes[0].walk.stopped_at, 0);
    let o = resolve(&p, &w.reads()).unwrap();
    assert_eq!(
        uidls(&o, "INBOX"),
        [(None, 0), (Some("ua"), 1), (Some("ub"), 2)]
    );
    let a = audit::audit(&l, &o, &w.reads(), Some(&w.truth()), &[]).unwrap();
    assert_eq!(a.recommendation, Recommendation::KeepSettings);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A random session: messages are small integers (content), POP3 and IMAP pick
    /// from them in any order with repeats, sizes from a tiny range so that equal
    /// sizes are common.
    fn arb_world() -> impl Strategy<Value = (Vec<(u8, u64)>, Vec<(u8, u64, String)>, Settings)> {
        let imap = prop::collection::vec((0u8..6, 1u64..4), 0..8);
        let pop3 = prop::collection::vec(
            (0u8..6, 1u64..4, prop::option::weighted(0.9, "[a-c]{1,2}")),
            0..8,
        );
        let settings = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
        (imap, pop3, settings).prop_map(|(imap, pop3, (ae, am, ss, al))| {
            let pop3 = pop3
                .into_iter()
                .enumerate()
                .map(|(i, (c, s, u))| (c, s, u.map(|u| format!("{u}{i}")).unwrap_or_default()))
                .collect();
            let mut st = Settings::enabled();
            st.ignore_extra_uidls = ae;
            st.ignore_missing_uidls = am;
            st.skip_size_check = ss;
            st.all_mailboxes = al;
            (imap, pop3, st)
        })
    }

    fn build(imap: &[(u8, u64)], pop3: &[(u8, u64, String)]) -> (Listing, Reads) {
        let listing = Listing {
            imap: vec![ImapMailbox {
                size_failure: None,
                name: "INBOX".into(),
                messages: imap
                    .iter()
                    .enumerate()
                    .map(|(i, (_, s))| ImapMessage {
                        uid: i as u32 + 1,
                        size: Some(*s),
                        cached_uidl: None,
                    })
                    .collect(),
            }],
            pop3: pop3
                .iter()
                .enumerate()
                .map(|(i, (_, s, u))| Pop3Message {
                    number: i as u32 + 1,
                    uidl: u.clone(),
                    size: Some(*s),
                })
                .collect(),
            pop3_error: None,
        };
        let mut reads = Reads::default();
        for (i, (c, _, _)) in pop3.iter().enumerate() {
            reads
                .pop3
                .insert(i as u32 + 1, MessageRead::hashed(h(&c.to_string())));
        }
        for (i, (c, _)) in imap.iter().enumerate() {
            reads.insert_imap(
                "INBOX",
                i as u32 + 1,
                MessageRead::hashed(h(&c.to_string())),
            );
        }
        (listing, reads)
    }

    proptest! {
        #[test]
        fn pairing_is_one_to_one((imap, pop3, s) in arb_world()) {
            let (l, r) = build(&imap, &pop3);
            let o = simulate(&l, &s, &r).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            for a in &o.mailboxes[0].messages {
                if a.order != 0 {
                    prop_assert!(seen.insert(a.order), "POP3 number {} given twice", a.order);
                }
            }
        }

        #[test]
        fn plan_asks_only_for_what_exists((imap, pop3, s) in arb_world()) {
            let (l, r) = build(&imap, &pop3);
            let p = plan(&l, &s);
            for n in p.pop3_reads() {
                prop_assert!(r.pop3.contains_key(&n));
            }
            for (mb, uid) in p.imap_reads() {
                prop_assert!(r.imap_get(mb, uid).is_some());
            }
            prop_assert!(resolve(&p, &r).is_ok());
        }

        #[test]
        fn distinct_sizes_same_order_pair_everything_by_size(n in 0usize..40) {
            let imap: Vec<(u8, u64)> = (0..n).map(|i| (i as u8, 100 + i as u64)).collect();
            let pop3: Vec<(u8, u64, String)> = (0..n).map(|i| (i as u8, 100 + i as u64, format!("u{i}"))).collect();
            let (l, _) = build(&imap, &pop3);
            let p = plan(&l, &Settings::enabled());
            prop_assert!(!p.needs_headers());
            let o = resolve(&p, &Reads::default()).unwrap();
            prop_assert_eq!(o.mailboxes[0].size_matches, n);
            for (i, a) in o.mailboxes[0].messages.iter().enumerate() {
                prop_assert_eq!(a.order, i as u32 + 1);
            }
        }

        #[test]
        fn wrong_pairings_are_always_flagged((imap, pop3, s) in arb_world()) {
            let (l, r) = build(&imap, &pop3);
            let o = simulate(&l, &s, &r).unwrap();
            // Ground truth by identity: IMAP message i is the POP3 message with the
            // same content if exactly one exists; the truth is built independently.
            let mut truth = Truth::new();
            for (i, (c, _)) in imap.iter().enumerate() {
                let same: Vec<usize> = pop3.iter().enumerate().filter(|(_, p)| p.0 == *c).map(|(j, _)| j).collect();
                let e = match same.as_slice() {
                    [] => Expected::None,
                    [j] if !pop3[*j].2.is_empty() => Expected::Pop3 { uidl: pop3[*j].2.clone(), number: *j as u32 + 1 },
                    _ => Expected::Unknown,
                };
                truth.insert(("INBOX".into(), i as u32 + 1), e);
            }
            let a = audit::audit(&l, &o, &r, Some(&truth), &[]).unwrap();
            let mb = &o.mailboxes[0];
            for (m, judged) in mb.messages.iter().zip(&a.messages) {
                let stored = if mb.copied { m.uidl } else { None };
                match &truth[&("INBOX".to_string(), m.uid)] {
                    Expected::Pop3 { uidl, .. } if stored.is_some_and(|u| u != uidl) => {
                        prop_assert_eq!(judged.verdict, Verdict::Wrong);
                    }
                    Expected::None if stored.is_some() => prop_assert_eq!(judged.verdict, Verdict::Wrong),
                    _ => prop_assert_ne!(judged.verdict, Verdict::Wrong),
                }
            }
        }

        #[test]
        fn result_is_deterministic((imap, pop3, s) in arb_world()) {
            // No hash-map iteration order leaks into results: building the reads in
            // another insertion order, and running twice, gives the same outcome.
            let (l, r) = build(&imap, &pop3);
            let mut r2 = Reads::default();
            for (k, v) in r.pop3.iter().rev() { r2.pop3.insert(*k, v.clone()); }
            for (k, v) in r.imap.iter().rev() { r2.imap.insert(k.clone(), v.iter().rev().map(|(u, m)| (*u, m.clone())).collect()); }
            prop_assert_eq!(&r2, &r);
            let a = simulate(&l, &s, &r).unwrap();
            let b = simulate(&l, &s, &r2).unwrap();
            prop_assert_eq!(&a, &b);
            let aa = audit::audit(&l, &a, &r, None, &[]).unwrap();
            let bb = audit::audit(&l, &b, &r2, None, &[]).unwrap();
            prop_assert_eq!(aa, bb);
        }
    }
}
