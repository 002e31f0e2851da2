//! Sort-and-merge pairing by header hash (spec §4.5).
//!
//! Both lists are stably sorted by hash and walked together; equal hashes pair one to
//! one and both cursors move on. Duplicates (equal normalised headers) therefore pair in
//! list order: the k-th such POP3 message by number with the k-th such IMAP message by
//! UID, whatever their sizes or bodies. Entries without a hash, POP3 entries already
//! paired and IMAP messages that already have a UIDL are stepped over.

use super::Sha1;

/// Pairs POP3 map entry `i` with IMAP message `j`; returns `(i, j)` pairs in hash
/// order. `*_hash[i]` is the entry's hash if read; `*_taken[i]` says it is out of the
/// walk (POP3: already paired; IMAP: already holding a UIDL).
pub fn pair(
    pop3_hash: &[Option<Sha1>],
    pop3_taken: &[bool],
    imap_hash: &[Option<Sha1>],
    imap_taken: &[bool],
) -> Vec<(u32, u32)> {
    let order = |h: &[Option<Sha1>]| {
        let mut idx: Vec<u32> = (0..h.len() as u32)
            .filter(|&i| h[i as usize].is_some())
            .collect();
        // Stable: equal hashes stay in list order, as with glibc's merge sort.
        idx.sort_by_key(|&i| h[i as usize]);
        idx
    };
    let (p, m) = (order(pop3_hash), order(imap_hash));
    let (mut a, mut b) = (0, 0);
    let mut pairs = Vec::new();
    while a < p.len() && b < m.len() {
        let (pi, mi) = (p[a] as usize, m[b] as usize);
        if pop3_taken[pi] {
            a += 1;
            continue;
        }
        if imap_taken[mi] {
            b += 1;
            continue;
        }
        match pop3_hash[pi].cmp(&imap_hash[mi]) {
            std::cmp::Ordering::Less => a += 1,
            std::cmp::Ordering::Greater => b += 1,
            std::cmp::Ordering::Equal => {
                pairs.push((pi as u32, mi as u32));
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

    #[derive(Clone, Copy)]
    struct Candidate {
        hash: Option<Sha1>,
        taken: bool,
    }

    fn c(hash: Option<Sha1>, taken: bool) -> Candidate {
        Candidate { hash, taken }
    }

    fn pair(pop3: &[Candidate], imap: &[Candidate]) -> Vec<(usize, usize)> {
        let hashes = |c: &[Candidate]| c.iter().map(|c| c.hash).collect::<Vec<_>>();
        let taken = |c: &[Candidate]| c.iter().map(|c| c.taken).collect::<Vec<_>>();
        super::pair(&hashes(pop3), &taken(pop3), &hashes(imap), &taken(imap))
            .into_iter()
            .map(|(a, b)| (a as usize, b as usize))
            .collect()
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
