//! The cached-UIDL pass (spec §7), reproduced with its bug.
//!
//! Dovecot sorts both lists by UIDL and means to link every IMAP message whose cached
//! UIDL POP3 still lists. Its inner loop advances through the POP3 list only while the
//! IMAP UIDL sorts *before* the POP3 UIDL — the wrong direction — so in practice only
//! the IMAP message whose cached UIDL equals the lowest-sorting POP3 UIDL is linked.
//! The others keep their cached UIDL (the size pass may still accept them by position)
//! but get no POP3 number, hence no order. We run the same walk, not a fixed version.

/// Links cached IMAP UIDLs to POP3 entries the way Dovecot 2.3.19 does.
///
/// `pop3_uidls[i]` is the UIDL of POP3 map entry `i` (empty UIDLs already left out);
/// `imap_cached[j]` is the cached UIDL of IMAP message `j`. Returns the links made, as
/// `(imap index, pop3 index)`, in the order the walk made them.
pub fn link_cached(pop3_uidls: &[&str], imap_cached: &[Option<&str>]) -> Vec<(usize, usize)> {
    // Stable sorts, as glibc's merge sort is for these arrays (spec §4.5).
    let mut pop3: Vec<usize> = (0..pop3_uidls.len()).collect();
    pop3.sort_by(|&a, &b| pop3_uidls[a].as_bytes().cmp(pop3_uidls[b].as_bytes()));
    let mut imap: Vec<usize> = (0..imap_cached.len()).collect();
    // NULL sorts first (null_strcmp); those are skipped by the walk anyway.
    imap.sort_by(|&a, &b| {
        imap_cached[a]
            .map(str::as_bytes)
            .cmp(&imap_cached[b].map(str::as_bytes))
    });

    let mut links = Vec::new();
    let mut p = 0;
    for &j in &imap {
        let Some(cached) = imap_cached[j] else {
            continue;
        };
        // The walk keeps going while the IMAP UIDL sorts before the POP3 one: the bug.
        let mut ordering = std::cmp::Ordering::Greater;
        while p < pop3.len() {
            ordering = cached.as_bytes().cmp(pop3_uidls[pop3[p]].as_bytes());
            if ordering.is_ge() {
                break;
            }
            p += 1;
        }
        if ordering.is_eq() {
            links.push((j, pop3[p]));
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::link_cached;

    #[test]
    fn table() {
        let cases: &[(&[&str], &[Option<&str>], &[(usize, usize)])] = &[
            // Three cached, POP3 unchanged: only the lowest-sorting UIDL links (§7 e2e).
            (
                &["uidl-a", "uidl-b", "uidl-c"],
                &[Some("uidl-a"), Some("uidl-b"), Some("uidl-c")],
                &[(0, 0)],
            ),
            // Nothing cached.
            (&["a", "b"], &[None, None], &[]),
            // The lowest POP3 UIDL is not cached anywhere: nothing links.
            (&["a", "b", "c"], &[Some("b"), Some("c")], &[]),
            // IMAP UIDL sorting before every POP3 UIDL runs the POP3 cursor to the end.
            (&["m", "n"], &[Some("a"), Some("m")], &[]),
            // Order of the IMAP list does not matter, only sorted order does.
            (&["x", "y"], &[Some("y"), Some("x")], &[(1, 0)]),
            (&[], &[Some("x")], &[]),
        ];
        for (pop3, imap, want) in cases {
            assert_eq!(link_cached(pop3, imap), *want, "{pop3:?} {imap:?}");
        }
    }
}
