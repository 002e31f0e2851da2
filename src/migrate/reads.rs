//! The IMAP header reads of [`super::dovecot_order`], met with imapc's recovery
//! ([`super::recovery`]), and the audit's reads of every header after Dovecot's part.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::recovery::{Fetch as ImapFetch, ImapcConn};
use super::{Migration, Options, Pop3Session, Progress, hashed, pop3_reads};
use crate::imap::client::Batching;
use crate::matcher::{MessageRead, Read, Reads};
use crate::pop3::client as pop3c;

/// Reads IMAP headers of `uids` in the selected mailbox, then whole messages for every
/// header without its blank line, recovering from faults as imapc does
/// ([`ImapcConn::sections`]): a read imapc could not recover is [`Read::Failed`].
pub(super) async fn imap_reads(
    imap: &mut ImapcConn<'_>,
    mailbox: &str,
    uids: &[u32],
    batching: Batching,
    out: &mut Reads,
    progress: &Progress,
) {
    let uids: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|&u| out.imap_get(mailbox, u).is_none())
        .collect();
    if uids.is_empty() {
        return;
    }
    // Hashed as they arrive; a UID that does not come back (or comes back NIL) is
    // gone, as imapc sees it.
    let mut need_full = Vec::new();
    let mut fresh = Vec::with_capacity(uids.len());
    let got = imap
        .sections(&uids, ImapFetch::Header, batching, |uid, bytes| {
            let header = hashed(&bytes);
            if header.needs_full() {
                need_full.push(uid);
            }
            fresh.push((uid, MessageRead { header, full: None }));
            progress.imap_read.fetch_add(1, Ordering::Relaxed);
        })
        .await;
    let lost = |uid: u32, header: Read| (uid, MessageRead { header, full: None });
    fresh.extend(got.vanished.into_iter().map(|uid| {
        lost(
            uid,
            Read::Expunged {
                reason: "Message was expunged".into(),
            },
        )
    }));
    fresh.extend(
        got.failed
            .into_iter()
            .map(|(uid, why)| lost(uid, Read::Failed { reason: why.into() })),
    );
    out.extend_imap(mailbox, fresh);
    if !need_full.is_empty() {
        let mut fulls: BTreeMap<u32, Read> = BTreeMap::new();
        let got = imap
            .sections(&need_full, ImapFetch::Full, batching, |uid, bytes| {
                fulls.insert(uid, hashed(&bytes));
            })
            .await;
        for (uid, why) in got.failed {
            fulls.insert(uid, Read::Failed { reason: why.into() });
        }
        for uid in need_full {
            let read = fulls.remove(&uid).unwrap_or_else(|| Read::Expunged {
                reason: "Message was expunged".into(),
            });
            if let Some(r) = out.imap_get_mut(mailbox, uid) {
                r.full = Some(Box::new(read));
            }
        }
    }
}

/// Every header of both sides, for the audit, read after Dovecot's part. `None` when
/// an IMAP read of it fails: a fault Dovecot never meets must not change its answer,
/// so the run is then reported without its audit.
pub(super) async fn audit_reads(
    imap: &mut ImapcConn<'_>,
    pop3: Option<&mut Pop3Session>,
    m: &Migration,
    opts: &Options,
) -> Option<Reads> {
    let mut all = m.reads.clone();
    if let Some(session) = pop3 {
        session
            .client
            .set_window(pop3c::DEFAULT_WINDOW.max(session.client.window()));
        let numbers: Vec<u32> = m.listing.pop3.iter().map(|p| p.number).collect();
        pop3_reads(session, &numbers, &mut all.pop3, &opts.progress).await;
    }
    for mb in &m.listing.imap {
        let uids: Vec<u32> = mb.messages.iter().map(|x| x.uid).collect();
        if uids.iter().all(|&u| all.imap_get(&mb.name, u).is_some()) {
            continue;
        }
        if imap.dead || imap.examine(&mb.name).await.is_err() {
            return None;
        }
        imap_reads(
            imap,
            &mb.name,
            &uids,
            Batching::PIPELINED,
            &mut all,
            &opts.progress,
        )
        .await;
    }
    Some(all)
}
