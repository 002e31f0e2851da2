//! Sort-and-merge pairing by header hash (spec §4.5).
//!
//! Both lists are stably sorted by hash and walked together; equal hashes pair one to
//! one and both cursors move on. Duplicates (equal normalised headers) therefore pair in
//! list order: the k-th such POP3 message by number with the k-th such IMAP message by
//! UID, whatever their sizes or bodies. Entries without a hash, POP3 entries already
//! paired and IMAP messages that already have a UIDL are stepped over.

use super::Sha1;

/// A candidate on either side: its hash, if read, and whether it is out of the walk.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub hash: Option<Sha1>,
    /// Already paired (POP3) or already holding a UIDL (IMAP).
    pub taken: bool,
}

/// Pairs `pop3[i]` with `imap[j]`; returns `(i, j)` pairs in hash order.
pub fn pair(pop3: &[Candidate], imap: &[Candidate]) -> Vec<(usize, usize)> {
    let order = |c: &[Candidate]| {
        let mut idx: Vec<usize> = (0..c.len()).filter(|&i| c[i].hash.is_some()).collect();
        // Stable: equal hashes stay in list order, as with glibc's merge sort.
        idx.sort_by_key(|&i| c[i].hash);
        idx
    };
    let (p, m) = (order(pop3), order(imap));
    let (mut a, mut b) = (0, 0);
    let mut pairs = Vec::new();
    while a < p.len() && b < m.len() {
        let (pi, mi) = (p[a], m[b]);
        if pop3[pi].taken {
            a += 1;
            continue;
        }
        if imap[mi].taken {
            b += 1;
            continue;
        }
        match pop3[pi].hash.cmp(&imap[mi].hash) {
            std::cmp::Ordering::Less => a += 1,
            std::cmp::Ordering::Greater => b += 1,
            std::cmp::Ordering::Equal => {
                pairs.push((pi, mi));
                a += 1;
                b += 1;
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Option<Sha1> {
        Some([b; 20])
    }

    fn c(hash: Option<Sha1>, taken: bool) -> Candidate {
        Candidate { hash, taken }
    }

    #[test]
    fn table() {
        let cases: Vec<(Vec<Candidate>, Vec<Candidate>, Vec<(usize, usize)>)> = vec![
            // Reversed order pairs by content.
            (
                vec![c(h(1), false), c(h(2), false), c(h(3), false)],
                vec![c(h(3), false), c(h(2), false), c(h(1), false)],
                vec![(0, 2), (1, 1), (2, 0)],
            ),
            // Duplicates pair in list order: POP3 [D2, D1] vs IMAP [D1, D2] swap.
            (
                vec![c(h(7), false), c(h(7), false)],
                vec![c(h(7), false), c(h(7), false)],
                vec![(0, 0), (1, 1)],
            ),
            // Taken and unhashed entries are stepped over.
            (
                vec![c(h(1), true), c(None, false), c(h(1), false)],
                vec![c(h(1), false), c(h(1), true)],
                vec![(2, 0)],
            ),
            // One-to-one: three POP3 copies, one IMAP copy.
            (
                vec![c(h(4), false), c(h(4), false), c(h(4), false)],
                vec![c(h(4), false)],
                vec![(0, 0)],
            ),
            (vec![], vec![c(h(1), false)], vec![]),
        ];
        for (pop3, imap, want) in cases {
            assert_eq!(pair(&pop3, &imap), want);
        }
    }
}
