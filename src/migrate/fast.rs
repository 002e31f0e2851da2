//! `fast_read`: the source read in a constant number of round trips whatever the
//! mailbox, for `verify` (issue 14). POP3: CAPA, then login, UIDL, LIST and every TOP
//! pipelined, bounded by bytes in flight; IMAP: LOGIN with LIST, then EXAMINE and the
//! size FETCH of every mailbox in one write, spread over `--connections` sessions.
//! What it reads answers as [`super::dovecot_order`]'s reads do (`tests/verify.rs`
//! checks it on every scenario); it falls back to the plain reads on any surprise.

use super::*;

/// [`imap_login`] with the folder listing in the same write.
async fn imap_login_and_list(
    source: &Source,
    opts: &Options,
) -> Result<(ImapClient<MaybeTls>, Vec<imapc::Mailbox>), ImapError> {
    let e = &source.imap;
    let timeouts = imapc::Timeouts {
        connect: opts.connect_timeout,
        io: opts.command_timeout,
    };
    opts.retry
        .run(
            imap_temporary,
            |_, _, _| {},
            || async {
                let mut imap = imapc::connect(
                    &e.host,
                    e.port,
                    e.security,
                    &source.trust,
                    timeouts,
                    imapc::Limits::default(),
                )
                .await?;
                let listed = imap.login_and_list(&e.user, &e.password).await?;
                Ok((imap, listed))
            },
        )
        .await
}

/// Says once per process that a POP3 server reads one command at a time.
fn note_lock_step(host: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!(
            "uidlmap: the POP3 server {host} does not announce PIPELINING: reading one command at a time, which is slow over a long distance"
        );
    });
}

/// How the pipelined login went.
enum FastLogin {
    /// Logged in and listed in one write.
    Listed(Pop3Client<MaybeTls>, pop3c::pipeline::Listing),
    /// No PIPELINING: logged in one command at a time.
    LockStep(Pop3Client<MaybeTls>),
    /// Something after the login failed, or a server lost pipelined commands: read
    /// again the plain way, which words any failure as Dovecot does.
    Redo,
}

/// Connects and lists POP3 at the network floor: `CAPA`, then `USER`, `PASS`, `CAPA`,
/// `UIDL` and `LIST` in one write. A refused login is retried as `opts.retry` says and
/// reported as [`pop3_list`] reports it; anything else that goes wrong falls back to
/// [`pop3_list`].
async fn pop3_list_fast(
    source: &Source,
    opts: &Options,
) -> Result<(Pop3Session, Vec<Pop3Message>), ListFailed> {
    let e = &source.pop3;
    let timeouts = pop3c::Timeouts {
        connect: opts.connect_timeout,
        command: opts.command_timeout,
    };
    let login = opts
        .retry
        .run(
            Pop3Error::is_temporary,
            |_, _, _| {},
            || async {
                let mut client = pop3c::connect(
                    &e.host,
                    e.port,
                    e.security,
                    &source.trust,
                    timeouts,
                    pop3c::Limits::default(),
                )
                .await?;
                let Ok(pre) = client.capa().await else {
                    return Ok(FastLogin::Redo);
                };
                if !pre.pipelining {
                    note_lock_step(&e.host);
                    client.login(&e.user, &e.password).await?;
                    return Ok(FastLogin::LockStep(client));
                }
                match client.login_and_list(&e.user, &e.password).await {
                    Ok(listed) => Ok(FastLogin::Listed(client, listed)),
                    // A refused login is the run's failure (or a reason to try again).
                    Err(err @ Pop3Error::Rejected { .. })
                        if matches!(&err, Pop3Error::Rejected { command, .. }
                            if command.starts_with("USER ") || command == "PASS ***") =>
                    {
                        Err(err)
                    }
                    Err(_) => Ok(FastLogin::Redo),
                }
            },
        )
        .await;
    let host = e.host.clone();
    let fail = |err: Pop3Error| pop3_failure(&host, err);
    let (client, listed) = match login {
        Err(err) => return Err(fail(err)),
        Ok(FastLogin::Redo) => return pop3_list(source, opts).await,
        Ok(FastLogin::LockStep(client)) => {
            return pop3_list_on(client, host.clone(), opts, fail).await;
        }
        Ok(FastLogin::Listed(client, listed)) => (client, listed),
    };
    if !client
        .capabilities()
        .is_some_and(|c| c.uidl && c.pipelining)
    {
        return pop3_list(source, opts).await;
    }
    let sizes = (!opts.settings.skip_size_check && !listed.uidls.is_empty())
        .then_some(listed.sizes.as_slice());
    let messages = pop3_messages(&listed.uidls, sizes);
    Ok((
        Pop3Session {
            client,
            host,
            broken: None,
            budget_sizes: Some(listed.sizes),
        },
        messages,
    ))
}

/// [`reads::imap_reads`] for many mailboxes at once: every mailbox's EXAMINE and header
/// fetches in one write, then the whole messages where a header has no blank line.
async fn imap_reads_pipelined(
    client: &mut ImapClient<MaybeTls>,
    wanted: &[(String, Vec<u32>)],
    out: &mut Reads,
    progress: &Progress,
) -> Result<(), ImapError> {
    let mut need_full: Vec<Vec<u32>> = vec![Vec::new(); wanted.len()];
    let mut fresh: Vec<Vec<(u32, MessageRead)>> = vec![Vec::new(); wanted.len()];
    let got = client
        .fetch_headers_in(wanted, |i, uid, bytes| {
            let header = hashed(&bytes);
            if header.needs_full() {
                need_full[i].push(uid);
            }
            fresh[i].push((uid, MessageRead { header, full: None }));
            progress.imap_read.fetch_add(1, Ordering::Relaxed);
        })
        .await?;
    for (i, (name, _)) in wanted.iter().enumerate() {
        let mut reads = std::mem::take(&mut fresh[i]);
        reads.extend(got[i].vanished().into_iter().map(|uid| {
            (
                uid,
                MessageRead {
                    header: Read::Expunged {
                        reason: "Message was expunged".into(),
                    },
                    full: None,
                },
            )
        }));
        // As `imap_reads`: a mailbox with nothing read gets no entry.
        if !reads.is_empty() {
            out.extend_imap(name, reads);
        }
    }
    for (i, (name, _)) in wanted.iter().enumerate() {
        if need_full[i].is_empty() {
            continue;
        }
        client.examine(name).await?;
        let fulls = client
            .fetch_full(&need_full[i], Batching::PIPELINED)
            .await?;
        for &uid in &need_full[i] {
            let read = match fulls.items.get(&uid) {
                Some(bytes) => hashed(bytes),
                None => Read::Expunged {
                    reason: "Message was expunged".into(),
                },
            };
            if let Some(r) = out.imap_get_mut(name, uid) {
                r.full = Some(Box::new(read));
            }
        }
    }
    Ok(())
}

/// The IMAP side of [`fast_read`]: listing, sizes, and (with `all`) every header.
struct ImapSide {
    client: ImapClient<MaybeTls>,
    /// Further connections of `--connections`, logged out at the end.
    others: Vec<ImapClient<MaybeTls>>,
    mailboxes: Vec<ImapMailbox>,
    /// The hierarchy separator `LIST` gave.
    separator: Option<char>,
    /// Sizes of every message, whether or not Dovecot would ask for them.
    sizes: BTreeMap<(String, u32), u64>,
    reads: Reads,
}

/// What one IMAP connection read of its share of the folders.
struct Share {
    mailboxes: Vec<ImapMailbox>,
    sizes: BTreeMap<(String, u32), u64>,
    reads: Reads,
}

async fn fast_imap(source: &Source, opts: &Options, all: bool) -> Result<ImapSide, ImapError> {
    let (mut client, listed) = imap_login_and_list(source, opts).await?;
    let separator = listed.iter().find_map(|m| m.delimiter);
    let mut names: Vec<String> = listed
        .into_iter()
        .filter(|m| m.is_selectable())
        .map(|m| m.name)
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();
    let k = opts.imap_connections.clamp(1, names.len().max(1));
    if k == 1 {
        let share = read_share(&mut client, &names, opts, all).await?;
        return Ok(ImapSide {
            client,
            others: Vec::new(),
            mailboxes: share.mailboxes,
            separator,
            sizes: share.sizes,
            reads: share.reads,
        });
    }
    // Folders dealt round-robin over k connections, each read as one connection reads
    // them all; merged back in name order, so the result is the one connection's.
    let mut groups: Vec<Vec<String>> = vec![Vec::new(); k];
    for (i, name) in names.iter().enumerate() {
        groups[i % k].push(name.clone());
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut first = Some(client);
    for (i, group) in groups.into_iter().enumerate() {
        let (source, opts) = (source.clone(), opts.clone());
        let mine = first.take();
        tasks.spawn(async move {
            let mut c = match mine {
                Some(c) => c,
                None => imap_login(&source, &opts).await?,
            };
            let share = read_share(&mut c, &group, &opts, all).await?;
            Ok::<_, ImapError>((i, c, share))
        });
    }
    let mut done = Vec::with_capacity(k);
    while let Some(joined) = tasks.join_next().await {
        done.push(joined.expect("an IMAP share panicked")?);
    }
    done.sort_by_key(|(i, _, _)| *i);
    let mut clients = Vec::with_capacity(k);
    let mut side = Share {
        mailboxes: Vec::new(),
        sizes: BTreeMap::new(),
        reads: Reads::default(),
    };
    for (_, c, share) in done {
        clients.push(c);
        side.mailboxes.extend(share.mailboxes);
        side.sizes.extend(share.sizes);
        side.reads.imap.extend(share.reads.imap);
    }
    side.mailboxes
        .sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let client = clients.remove(0);
    Ok(ImapSide {
        client,
        others: clients,
        mailboxes: side.mailboxes,
        separator,
        sizes: side.sizes,
        reads: side.reads,
    })
}

/// Lists `names` on one connection (every mailbox's EXAMINE and listing in one write),
/// with the sizes the profile uses and (with `all`) every header.
async fn read_share(
    client: &mut ImapClient<MaybeTls>,
    names: &[String],
    opts: &Options,
    all: bool,
) -> Result<Share, ImapError> {
    let mut side = Share {
        mailboxes: Vec::new(),
        sizes: BTreeMap::new(),
        reads: Reads::default(),
    };
    let listed = client.examine_and_list_all(names).await?;
    for (name, (_, listed)) in names.iter().zip(listed) {
        let uids: Vec<u32> = listed.iter().map(|l| l.uid).collect();
        opts.progress
            .imap_listed
            .fetch_add(uids.len() as u64, Ordering::Relaxed);
        match opts.imapc.sizing {
            Sizing::Rfc822Size => {
                for l in &listed {
                    if let Some(n) = l.size {
                        side.sizes.insert((name.clone(), l.uid), n);
                    }
                }
            }
            Sizing::Download => {
                let wanted = matcher::acts_on(&opts.settings, name)
                    && !opts.settings.skip_size_check
                    && !uids.is_empty();
                if wanted {
                    client.examine(name).await?;
                    let sizes = &mut side.sizes;
                    client
                        .fetch_full_each(&uids, Batching::PIPELINED, |uid, bytes| {
                            sizes.insert((name.clone(), uid), bare_size(&bytes));
                        })
                        .await?;
                }
            }
        }
        side.mailboxes.push(ImapMailbox {
            name: name.clone(),
            messages: uids
                .iter()
                .map(|&uid| ImapMessage {
                    uid,
                    size: None,
                    cached_uidl: opts.cache.get(&(name.clone(), uid)).cloned(),
                })
                .collect(),
            size_failure: None,
        });
    }
    if all {
        let wanted: Vec<(String, Vec<u32>)> = side
            .mailboxes
            .iter()
            .map(|mb| (mb.name.clone(), mb.messages.iter().map(|m| m.uid).collect()))
            .collect();
        imap_reads_pipelined(client, &wanted, &mut side.reads, &opts.progress).await?;
    }
    Ok(side)
}

/// The POP3 side of [`fast_read`]: listing and (with `all`) every header.
async fn fast_pop3(
    source: &Source,
    opts: &Options,
    all: bool,
) -> (
    Option<Pop3Session>,
    Result<Vec<Pop3Message>, ListFailed>,
    ReadMap,
) {
    let mut reads = ReadMap::default();
    match pop3_list_fast(source, opts).await {
        Ok((mut session, messages)) => {
            opts.progress
                .pop3_listed
                .store(messages.len() as u64, Ordering::Relaxed);
            session
                .client
                .set_window(pop3c::DEFAULT_WINDOW.max(session.client.window()));
            if all {
                let numbers: Vec<u32> = messages.iter().map(|p| p.number).collect();
                pop3_reads(&mut session, &numbers, &mut reads, &opts.progress).await;
                if session.broken.is_some() {
                    // Some servers advertise PIPELINING and break under a deep window:
                    // read again as Dovecot would, so that a failure is Dovecot's too.
                    if let Ok((mut again, _)) = pop3_list(source, opts).await {
                        reads.clear();
                        opts.progress.pop3_read.store(0, Ordering::Relaxed);
                        pop3_reads(&mut again, &numbers, &mut reads, &opts.progress).await;
                        session = again;
                    }
                }
            }
            (Some(session), Ok(messages), reads)
        }
        Err(fail) => (None, Err(fail), reads),
    }
}

/// Reads what Dovecot's plugin reads, and (with `opts.audit`) every header of both
/// sides, as fast as the servers allow: the IMAP and POP3 sides at once, POP3 pipelined
/// [`pop3c::DEFAULT_WINDOW`] deep, IMAP in large pipelined UID ranges, sizes from one
/// `UID FETCH 1:* (UID RFC822.SIZE)` per mailbox (docs profile) or from pipelined
/// downloads measured as Dovecot's default imapc does (bare profile).
///
/// The listing and `reads` are what [`dovecot_order`] gets on the same source, so
/// `plan` and `resolve` answer the same; only the order and batching of commands
/// differ (timeline events keyed to Dovecot's steps need [`dovecot_order`]). POP3 and
/// IMAP logins are retried as `opts.retry` says. `traffic` counts this reader's own commands.
pub async fn fast_read(source: &Source, opts: &Options) -> Result<Migration, MigrateError> {
    let imap_server = source.imap.server_name();
    let imap_err = |source: ImapError| MigrateError::Imap {
        server: imap_server.clone(),
        source,
    };
    let (imap, (mut pop3, pop3_listing, pop3_all)) = tokio::join!(
        fast_imap(source, opts, opts.audit),
        fast_pop3(source, opts, opts.audit)
    );
    let mut imap = imap.map_err(imap_err)?;
    let settings = &opts.settings;
    let mut m = Migration {
        separator: imap.separator,
        ..Migration::default()
    };
    m.listing.imap = std::mem::take(&mut imap.mailboxes);
    // Dovecot asks for sizes only where the plugin acts and checks them.
    for mb in &mut m.listing.imap {
        if matcher::acts_on(settings, &mb.name) && !settings.skip_size_check {
            for msg in &mut mb.messages {
                msg.size = imap.sizes.get(&(mb.name.clone(), msg.uid)).copied();
            }
        }
    }
    // pop3c is only started by the first mailbox the plugin acts on.
    if m.listing
        .imap
        .iter()
        .any(|mb| matcher::acts_on(settings, &mb.name))
    {
        match pop3_listing {
            Ok(messages) => m.listing.pop3 = messages,
            Err(f) => {
                m.listing.pop3_error = Some(f.line);
                m.pop3_temporary = f.error.as_ref().is_some_and(|e| e.is_temporary());
                m.pop3_failure = f.error;
            }
        }
    } else {
        pop3 = None;
    }
    let mut all = Reads {
        pop3: pop3_all,
        ..imap.reads
    };

    let needed = matcher::reads_needed(&m.listing, settings);
    if !opts.audit {
        // Read what the plan needs, both sides at once.
        let pop3_numbers: Vec<u32> = needed.pop3().collect();
        let imap_wanted: Vec<(String, u32)> =
            needed.imap().map(|(n, u)| (n.to_string(), u)).collect();
        let imap_client = &mut imap.client;
        let imap_reads_all = async {
            let mut out = Reads::default();
            let mut by_mailbox: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            for (name, uid) in imap_wanted {
                by_mailbox.entry(name).or_default().push(uid);
            }
            let wanted: Vec<(String, Vec<u32>)> = by_mailbox.into_iter().collect();
            imap_reads_pipelined(imap_client, &wanted, &mut out, &opts.progress).await?;
            Ok::<_, ImapError>(out)
        };
        let pop3_reads_all = async {
            let mut out = ReadMap::default();
            if let Some(session) = pop3.as_mut() {
                pop3_reads(session, &pop3_numbers, &mut out, &opts.progress).await;
                if session.broken.is_some() {
                    // As in `fast_pop3`: again at Dovecot's own depth.
                    if let Ok((mut again, _)) = pop3_list(source, opts).await {
                        out.clear();
                        pop3_reads(&mut again, &pop3_numbers, &mut out, &opts.progress).await;
                        *session = again;
                    }
                }
            }
            out
        };
        let (imap_got, pop3_got) = tokio::join!(imap_reads_all, pop3_reads_all);
        all = Reads {
            pop3: pop3_got,
            ..imap_got.map_err(imap_err)?
        };
    }

    m.reads = needed.dovecot_reads(&all);
    let pop3_stats = pop3.as_ref().map(|s| s.client.stats()).unwrap_or_default();
    let mut imap_stats = imap.client.stats();
    for c in &imap.others {
        let more = c.stats();
        imap_stats.commands += more.commands;
        imap_stats.round_trips += more.round_trips;
    }
    m.traffic = Traffic {
        pop3: ServerTraffic {
            commands: pop3_stats.commands,
            round_trips: pop3_stats.round_trips,
        },
        imap: ServerTraffic {
            commands: imap_stats.commands,
            round_trips: imap_stats.round_trips,
        },
    };
    if opts.audit {
        m.all = Some(all);
    }
    imap.client.logout_without_waiting().await;
    for c in imap.others {
        c.logout_without_waiting().await;
    }
    Ok(m)
}
