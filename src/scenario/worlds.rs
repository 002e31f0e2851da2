//! The world generator: random, valid scenarios for hunting disagreements with real
//! Dovecot (`uidlmap scenario generate`, `uidlmap conformance --random`).
//!
//! A [`WorldSpec`] is the generator's own model of a scenario, coarse enough to shrink
//! (drop a folder, a message, an event, a fault, a setting) and rendered to the scenario
//! format by [`WorldSpec::render`], so that every world is read by the same loader as a
//! hand-written scenario. Same seed, same bytes: the only randomness is [`Rng`], a
//! SplitMix64 seeded from `(seed, index)`, and every collection is ordered.
//!
//! The axes drawn (each in a good share of the worlds): folder trees (nested, siblings
//! sharing a prefix, spaces, dots, `&`, non-ASCII, separators `/` and `.`, children of
//! INBOX, INBOX not first in LIST), POP3 order (kept, reversed, shuffled, rotated),
//! equal adjacent sizes, identical and near-identical headers (a skipped header, a
//! trailing blank, 8-bit bytes, a NUL), empty, duplicate and odd UIDLs, POP3-only and
//! IMAP-only mail, mail of other folders in POP3, the six settings in the spellings the
//! loader accepts, deliveries, expunges and reorders tied to protocol steps, faults at a
//! command index, a seeded INBOX UIDL cache, provider profiles, RFC822.SIZE and LIST
//! overrides.
//!
//! What is left out, and why: `truncate:` on multi-line POP3 replies and `delay_ms`
//! (Dovecot 2.3.19's pop3c waits for minutes, see `scenarios/README.md`), STLS (never
//! completes in 2.3.19.1), caches outside INBOX (the harness seeds them through POP3).

/// SplitMix64: small, fast and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator of world `index` of run `seed`: independent of the other worlds, so
    /// world 7 of seed S is the same whatever the count.
    pub fn for_world(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index.wrapping_add(1)));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// One message: its id and its YAML mapping as written under `messages:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub id: String,
    pub yaml: String,
}

/// One IMAP mailbox in LIST order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub messages: Vec<String>,
}

/// One event or fault: its YAML list item, and the message ids and mailbox it names
/// (dropped with them when shrinking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub yaml: String,
    pub ids: Vec<String>,
    pub mailbox: Option<String>,
}

/// A generated world, before rendering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldSpec {
    /// `random-<seed>-<index>`.
    pub name: String,
    /// `docs`, `bare` or `both`.
    pub imapc: String,
    /// The Dovecot versions it is about (`dovecot:`), when not the default 2.3; a kept
    /// failure names the version it disagreed under.
    pub dovecot: Option<String>,
    /// `(key, value)` as written, e.g. `("pop3_migration_skip_size_check", "on")`.
    pub settings: Vec<(String, String)>,
    pub profile: Option<String>,
    pub quirks: Vec<String>,
    pub separator: char,
    pub messages: Vec<Msg>,
    pub folders: Vec<Folder>,
    pub pop3: Vec<String>,
    pub uidl_template: Option<String>,
    pub allow_duplicate_uidls: bool,
    /// INBOX's cached UIDLs, by message id.
    pub cache: Vec<(String, String)>,
    pub events: Vec<Item>,
    pub faults: Vec<Item>,
    /// The `server:` mapping, if any.
    pub server: Option<String>,
    /// What Dovecot did (`success`, `failure`, `abort`), once known; else `success` is
    /// written as a placeholder.
    pub outcome: Option<String>,
    /// Comment lines written at the top (what differed, for a kept failure).
    pub comments: Vec<String>,
}

/// How many worlds, how big.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    pub seed: u64,
    pub count: usize,
    /// About this many messages per world (default: 1–9).
    pub messages: Option<usize>,
}

/// Generates the worlds of `opts`, in index order.
pub fn generate(opts: GenOptions) -> Vec<WorldSpec> {
    (0..opts.count)
        .map(|i| world(opts.seed, i as u64, opts.messages))
        .collect()
}

/// Folder names drawn from, by what they test; `{s}` is the separator.
const FOLDER_NAMES: &[&str] = &[
    "Archive",
    "Archive 2024",
    "Archives",
    "Archive{s}2024",
    "Archive{s}2024{s}Q1",
    "Sent",
    "Sent Items",
    "Sent-Mail",
    "Drafts",
    "Entwürfe",
    "Données",
    "Входящие",
    "日本語",
    "R&D",
    "Tom & Jerry",
    "&Co",
    "v1.2",
    "Old Mail",
    " lead",
    "INBOX{s}Sub",
    "INBOX{s}Sub{s}Deep",
    "INBOXES",
    "Inbox2",
    "Junk",
    "Spam",
    "Trash",
    "a",
    "A",
    "a{s}b",
    "a b{s}c.d",
    "Ünïcødé{s}Kind",
    "[Gmail]{s}All Mail",
    "Q1/Q2",
];

const SUBJECTS: &[&str] = &[
    "Hello",
    "Invoice 2024-03",
    "Re: dinner",
    "Grüße aus Köln",
    "Lunch?",
    "Quarterly report",
    "Fwd: photos",
    "Meeting",
    "Meeting ",
    "  spaced  out",
    "日本語の件名",
];

const ODD_UIDLS: &[&str] = &[
    "",
    "a b",
    "tab\there",
    "ünïcode-uidl",
    "x",
    "0",
    "UID1-1",
    "000000010000abcd",
    "very-long-uidl-0123456789abcdef0123456789abcdef0123456789abcdef0123",
    " lead",
    "trail ",
];

const TEMPLATES: &[&str] = &[
    "UID{uid}-{uidvalidity}",
    "%08Xu%08Xv",
    "{md5}",
    "u{n}",
    "GmailId{gmail_id}",
];

const PROFILES: &[&str] = &[
    "dovecot",
    "zimbra",
    "yahoo",
    "exchange",
    "exchange-newest-first",
    "exchange-2010",
    "gmail",
    "courier",
    "oracle-ims",
    "gmx",
    "openmail",
];

const QUIRKS: &[&str] = &[
    "pop3.list_size.lf",
    "imap.rfc822_size.lf",
    "pop3.order.newest_first",
    "imap.header.strip_trailing_whitespace",
    "imap.add_return_path",
    "pop3.nul_to_0x80",
];

/// The six settings (without and with Dovecot's prefix) and the spellings admins write.
const SETTINGS: &[&str] = &[
    "all_mailboxes",
    "ignore_extra_uidls",
    "ignore_missing_uidls",
    "skip_size_check",
    "skip_uidl_cache",
];
const YES: &[&str] = &["yes", "true", "on", "1", "YES", "Yes"];
const NO: &[&str] = &["no", "false", "off", "0", "NO"];

/// Steps events and faults are tied to, with the side they are on.
const POP3_STEPS: &[&str] = &[
    "pop3.login",
    "pop3.capa",
    "pop3.uidl",
    "pop3.list",
    "pop3.top",
    "pop3.retr",
];
const IMAP_STEPS: &[&str] = &[
    "imap.list",
    "imap.examine",
    "imap.fetch_flags",
    "imap.fetch_headers",
    "imap.fetch_messages",
];

/// World `index` of `seed`.
pub fn world(seed: u64, index: u64, messages: Option<usize>) -> WorldSpec {
    let mut r = Rng::for_world(seed, index);
    let separator = if r.chance(25) { '.' } else { '/' };
    let imapc = r.pick(&["both", "both", "docs", "bare"]).to_string();
    let mut w = WorldSpec {
        name: format!("random-{seed}-{index}"),
        imapc,
        dovecot: None,
        settings: Vec::new(),
        profile: None,
        quirks: Vec::new(),
        separator,
        messages: Vec::new(),
        folders: Vec::new(),
        pop3: Vec::new(),
        uidl_template: None,
        allow_duplicate_uidls: false,
        cache: Vec::new(),
        events: Vec::new(),
        faults: Vec::new(),
        server: None,
        outcome: None,
        comments: Vec::new(),
    };
    folders(&mut r, &mut w);
    let total = match messages {
        Some(m) => m.max(1),
        None => 1 + r.below(9),
    };
    fill_messages(&mut r, &mut w, total);
    pop3_view(&mut r, &mut w);
    settings(&mut r, &mut w);
    if r.chance(20) {
        w.profile = Some(r.pick(PROFILES).to_string());
    }
    if r.chance(15) {
        w.quirks.push(r.pick(QUIRKS).to_string());
    }
    cache(&mut r, &mut w);
    events(&mut r, &mut w);
    faults(&mut r, &mut w);
    if r.chance(10) {
        let knob = r.pick(&[
            "{ pop3: { pipelining: false } }",
            "{ pop3: { capa: false } }",
            "{ pop3: { top: false } }",
            "{ pop3: { resp_codes: false } }",
            "{ imap: { uidnext_on_select: false } }",
            "{ imap: { literal_plus: false } }",
        ]);
        w.server = Some(knob.to_string());
    }
    w
}

/// INBOX and 0–4 other folders, in a random LIST order.
fn folders(r: &mut Rng, w: &mut WorldSpec) {
    let sep = w.separator.to_string();
    let mut names = vec!["INBOX".to_string()];
    let extra = *r.pick(&[0, 0, 1, 2, 2, 3, 4]);
    for _ in 0..extra {
        let name = r.pick(FOLDER_NAMES).replace("{s}", &sep);
        // With `.` as separator a `/` is an ordinary character, and the reverse.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if r.chance(30) {
        r.shuffle(&mut names);
    }
    w.folders = names
        .into_iter()
        .map(|name| Folder {
            name,
            messages: Vec::new(),
        })
        .collect();
}

/// `total` messages spread over the folders (INBOX gets most), some twice-alike.
fn fill_messages(r: &mut Rng, w: &mut WorldSpec, total: usize) {
    let inbox = w
        .folders
        .iter()
        .position(|f| f.name == "INBOX")
        .unwrap_or(0);
    let mut last_size = 1200u32;
    for k in 1..=total {
        let id = format!("m{k}");
        let size = if r.chance(25) {
            last_size // equal adjacent sizes
        } else {
            900 + 50 * r.below(40) as u32
        };
        last_size = size;
        let yaml = message_yaml(r, &id, size, k);
        w.messages.push(Msg {
            id: id.clone(),
            yaml,
        });
        let f = if w.folders.len() == 1 || r.chance(60) {
            inbox
        } else {
            r.below(w.folders.len())
        };
        w.folders[f].messages.push(id.clone());
        // Gmail labels: the same message in a second folder.
        if w.folders.len() > 1 && r.chance(5) {
            let g = r.below(w.folders.len());
            if g != f {
                w.folders[g].messages.push(id);
            }
        }
    }
    // Identical or near-identical twins of earlier messages.
    if total >= 2 && r.chance(30) {
        let pairs = 1 + r.below(2);
        for p in 0..pairs {
            let id = format!("t{}", p + 1);
            let yaml = twin_yaml(r, p);
            w.messages.push(Msg {
                id: id.clone(),
                yaml,
            });
            w.folders[inbox].messages.push(id);
        }
    }
}

/// A generated (or now and then raw) message.
fn message_yaml(r: &mut Rng, id: &str, size: u32, k: usize) -> String {
    if r.chance(6) {
        // 8-bit bytes or a NUL in a raw message.
        let subject = if r.chance(50) {
            "Gr\u{fc}\u{df}e"
        } else {
            "nul\0here"
        };
        let raw = format!(
            "From: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}@raw.test>\r\n\r\nbody {k}\r\n"
        );
        return format!(
            "{{ raw: {}, encoding: latin1, line_ending: keep }}",
            q(&raw)
        );
    }
    let mut fields = vec![format!("subject: {}", q(r.pick::<&str>(SUBJECTS)))];
    fields.push(format!("size: {size}"));
    if r.chance(10) {
        fields.push(format!(
            "headers: [{}]",
            q(r.pick::<&str>(&[
                "X-UID: 7",
                "Status: RO",
                "X-Note: folded\n continued",
                "X-Spam-Flag: YES"
            ]))
        ));
    }
    if r.chance(8) {
        fields.push("line_ending: lf".into());
    }
    let mut imap = Vec::new();
    let mut pop3 = Vec::new();
    if r.chance(6) {
        imap.push(format!("rfc822_size: {}", size + 1 + r.below(20) as u32));
    }
    if r.chance(6) {
        imap.push("flags: ['\\Flagged']".to_string());
    }
    if r.chance(6) {
        pop3.push(format!("list_size: {}", size - 1 - r.below(20) as u32));
    }
    if r.chance(12) {
        pop3.push(format!("uidl: {}", q(r.pick::<&str>(ODD_UIDLS))));
    }
    if !imap.is_empty() {
        fields.push(format!("imap: {{ {} }}", imap.join(", ")));
    }
    if !pop3.is_empty() {
        fields.push(format!("pop3: {{ {} }}", pop3.join(", ")));
    }
    format!("{{ {} }}", fields.join(", "))
}

/// Twin `p`: the same headers as every other twin of its kind, or one small difference
/// the plugin's hash does or does not see.
fn twin_yaml(r: &mut Rng, p: usize) -> String {
    let base = "from: Ann <ann@example.org>, subject: Twin, date: \"Fri, 01 Mar 2024 08:00:00 +0000\", message_id: \"<twin@uidlmap.test>\"";
    let variant = *r.pick(&[
        "",
        "",
        ", headers: [\"X-UID: 9\"]",
        ", headers: [\"X-Keywords: a\"]",
        ", headers: [\"X-Extra: 1\"]",
    ]);
    let size = 1000 + 100 * p as u32 * u32::from(r.chance(50));
    format!("{{ {base}{variant}, size: {size} }}")
}

/// The POP3 listing: INBOX (or more) in some order, minus missing, plus POP3-only mail.
fn pop3_view(r: &mut Rng, w: &mut WorldSpec) {
    let inbox: Vec<String> = w
        .folders
        .iter()
        .find(|f| f.name == "INBOX")
        .map(|f| f.messages.clone())
        .unwrap_or_default();
    let mut list = inbox.clone();
    if r.chance(15) {
        // Mail of other folders too (Sent served by POP3).
        for f in w.folders.iter().filter(|f| f.name != "INBOX") {
            for id in &f.messages {
                if !list.contains(id) {
                    list.push(id.clone());
                }
            }
        }
    }
    match r.below(10) {
        0 | 1 => list.reverse(),
        2 => r.shuffle(&mut list),
        3 if list.len() > 1 => list.rotate_left(1),
        4 if list.len() > 1 => {
            let i = r.below(list.len() - 1);
            list.swap(i, i + 1);
        }
        _ => {}
    }
    if !list.is_empty() && r.chance(15) {
        list.remove(r.below(list.len()));
    }
    if r.chance(15) {
        let id = "p1".to_string();
        w.messages.push(Msg {
            id: id.clone(),
            yaml: format!(
                "{{ subject: POP3 only, size: {}, pop3: {{ uidl: pop3-only-1 }} }}",
                900 + 50 * r.below(10)
            ),
        });
        let at = r.below(list.len() + 1);
        list.insert(at, id);
    }
    if r.chance(25) {
        w.uidl_template = Some(r.pick(TEMPLATES).to_string());
    }
    // Duplicate UIDLs: a second message given the first's UIDL.
    if list.len() >= 2 && r.chance(8) {
        let id = list[1].clone();
        if let Some(m) = w.messages.iter_mut().find(|m| m.id == id)
            && !m.yaml.contains("pop3:")
            && !m.yaml.starts_with("{ raw")
        {
            let first = list[0].clone();
            m.yaml = m
                .yaml
                .replacen("{ ", &format!("{{ pop3: {{ uidl: {first} }}, "), 1);
            if let Some(f) = w.messages.iter_mut().find(|m| m.id == first)
                && !f.yaml.contains("pop3:")
                && !f.yaml.starts_with("{ raw")
            {
                f.yaml = f
                    .yaml
                    .replacen("{ ", &format!("{{ pop3: {{ uidl: {first} }}, "), 1);
            }
        }
    }
    // Templates by UID and odd/duplicate UIDLs can collide; the loader refuses that
    // unless allowed, and a real server may well do it.
    w.allow_duplicate_uidls = true;
    w.pop3 = list;
}

fn settings(r: &mut Rng, w: &mut WorldSpec) {
    for name in SETTINGS {
        if r.chance(22) {
            let key = if r.chance(40) {
                format!("pop3_migration_{name}")
            } else {
                name.to_string()
            };
            let value = if r.chance(65) {
                r.pick(YES)
            } else {
                r.pick(NO)
            };
            w.settings.push((key, value.to_string()));
        }
    }
    if r.chance(5) {
        w.settings
            .push(("mailbox".into(), "POP3-MIGRATION-NS/INBOX".into()));
    }
}

/// A previous run's UIDLs for some INBOX messages: mostly the true ones, some stale.
fn cache(r: &mut Rng, w: &mut WorldSpec) {
    if !r.chance(15) {
        return;
    }
    let Some(inbox) = w.folders.iter().find(|f| f.name == "INBOX") else {
        return;
    };
    // Every INBOX message: the harness seeds the cache through a first run whose POP3
    // side lists the cached messages, and a partial list can be paired by position
    // (equal sizes, twins) so that the seeded cache is not the one written here.
    for (k, id) in inbox.messages.iter().enumerate() {
        {
            // The id is the true UIDL unless a template or an override says otherwise;
            // then the entry is stale, as it is after a provider changed its UIDLs.
            let uidl = if r.chance(75) {
                id.clone()
            } else {
                format!("stale-{k}")
            };
            // The cache only holds simple UIDLs that the seeding run can store.
            w.cache.push((id.clone(), uidl));
        }
    }
}

/// 0–2 events: a delivery, an expunge or a reorder, before or after a step.
fn events(r: &mut Rng, w: &mut WorldSpec) {
    let n = *r.pick(&[0, 0, 0, 1, 1, 2]);
    for k in 0..n {
        let step = step_ref(r, w);
        let when = if r.chance(70) { "before" } else { "after" };
        match r.below(3) {
            0 => {
                let id = format!("n{}", k + 1);
                w.messages.push(Msg {
                    id: id.clone(),
                    yaml: format!(
                        "{{ subject: Just delivered, size: {}, pop3: {{ uidl: new-{} }} }}",
                        1000 + 50 * r.below(10),
                        k + 1
                    ),
                });
                let (imap, pop3) = match r.below(3) {
                    0 => ("imap: INBOX, ", " pop3: yes"),
                    1 => ("imap: INBOX", ""),
                    _ => ("", " pop3: yes"),
                };
                w.events.push(Item {
                    yaml: format!("{when}: {step}\n    deliver: {{ message: {id}, {imap}{pop3} }}"),
                    ids: vec![id],
                    mailbox: None,
                });
            }
            1 => {
                let Some(inbox) = w.folders.iter().find(|f| f.name == "INBOX") else {
                    continue;
                };
                let Some(id) = inbox.messages.first().cloned() else {
                    continue;
                };
                let id = if inbox.messages.len() > 1 && r.chance(50) {
                    inbox.messages[r.below(inbox.messages.len())].clone()
                } else {
                    id
                };
                if w.events.iter().any(|e| e.ids.contains(&id)) {
                    continue;
                }
                let in_pop3 = w.pop3.contains(&id);
                let sides = match (in_pop3, r.below(3)) {
                    (true, 0) => "imap: yes, pop3: yes",
                    (true, 1) => "pop3: yes",
                    _ => "imap: yes",
                };
                w.events.push(Item {
                    yaml: format!("{when}: {step}\n    expunge: {{ message: {id}, {sides} }}"),
                    ids: vec![id],
                    mailbox: None,
                });
            }
            _ => {
                if w.pop3.len() < 2 {
                    continue;
                }
                // Not a message an earlier event expunged.
                let gone: Vec<&String> = w.events.iter().flat_map(|e| &e.ids).collect();
                let mut order: Vec<String> = w
                    .pop3
                    .iter()
                    .filter(|id| !gone.contains(id))
                    .cloned()
                    .collect();
                if order.len() < 2 {
                    continue;
                }
                order.reverse();
                w.events.push(Item {
                    yaml: format!("{when}: {step}\n    reorder_pop3: [{}]", order.join(", ")),
                    ids: order,
                    mailbox: None,
                });
            }
        }
    }
}

/// A step, as `{ step: NAME, nth: K }` or a bare name.
fn step_ref(r: &mut Rng, w: &WorldSpec) -> String {
    let mut steps: Vec<&str> = POP3_STEPS.iter().chain(IMAP_STEPS).copied().collect();
    if w.imapc == "docs" {
        steps.push("imap.fetch_sizes");
    }
    steps.push("pop3.user");
    let step = *r.pick(&steps);
    if r.chance(50) {
        format!("{{ step: {step}, nth: {} }}", 1 + r.below(3))
    } else {
        step.to_string()
    }
}

/// 0–1 faults at some command index.
fn faults(r: &mut Rng, w: &mut WorldSpec) {
    if !r.chance(20) {
        return;
    }
    let step = step_ref(r, w);
    let pop3 = step.contains("pop3.");
    let action = match (pop3, r.below(3)) {
        (_, 0) => "disconnect: yes".to_string(),
        (true, _) => format!("reply: {}", q("-ERR Temporary failure")),
        (false, _) => format!("reply: {}", q("{tag} NO [UNAVAILABLE] Temporary failure")),
    };
    let times = if r.chance(50) && !step.contains("nth") {
        format!("\n    times: {}", 1 + r.below(2))
    } else {
        String::new()
    };
    w.faults.push(Item {
        yaml: format!("when: {step}\n    {action}{times}"),
        ids: Vec::new(),
        mailbox: None,
    });
}

/// A YAML double-quoted string: `"`, `\` and control bytes escaped; other characters
/// (UTF-8, or latin1 text meant byte for byte) as they are.
pub fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Disagreements the hunt has found and uidlmap does not model yet, each with the part
/// of a world that shows it; `--known-gaps skip` leaves those parts out of every world
/// (CI does, so that it fails only on new disagreements). Found with Dovecot 2.3.19.1,
/// `uidlmap conformance --random 300 --seed 2` (issue 12, part 1). IMAP faults left
/// this list once imapc's recovery was modelled (`migrate/recovery.rs`): hunting seeds
/// 11–13 with them kept, 0 of 1,316 runs disagree, where the reader before disagreed
/// on 46 (15, 14, 17). Events at imap.list left with them: the reader now sends
/// dsync's three LISTs (the 39 such worlds of seeds 11–13: 124 of 126 runs agree, the
/// 2 others on an expunge, a gap below; the reader before disagreed on 28 of 63 runs
/// under 2.3).
pub const KNOWN_GAPS: &[(&str, &str)] = &[
    (
        "events at imap.fetch_messages, and expunges",
        "a message expunged or delivered while dsync downloads or before the plugin reads \
         sizes (`Failed to get psize for imap uid N`, `Remote didn't send mail UID=N`): \
         classes e and f",
    ),
    (
        "events at imap.fetch_sizes",
        "Dovecot fetches RFC822.SIZE after its POP3 session locked the maildrop, uidlmap's \
         reader before: a reorder there is seen by one and not the other (hunt seed 3, \
         random-3-154)",
    ),
    (
        "POP3 -ERR at TOP by index",
        "`-ERR` to the first TOPs (`times: 2`, or the 2nd TOP) does not fail Dovecot's \
         header read, where uidlmap predicts `Failed to get header for msg N` (hunt seed \
         3, random-3-204 and random-3-234): pop3c's own retries, class g. pop3c's \
         pipelined prefetch of `TOP n 0` that fails is asked again, synchronously, when \
         the plugin reads msg n (the fault judge sees `TOP 2 0` sent three times under a \
         lasting `-ERR`); a garbage reply is the same to pop3c (`Server sent \
         unrecognized line`, read as `-ERR`), and a disconnect at a re-sent TOP, or at a \
         later prefetch before the re-send, fails msg n where uidlmap, asking once, \
         predicts success or names a later message; the same for `RETR` where it reads \
         the header (no TOP) or the whole message (tests/fault_judge.rs)",
    ),
    (
        "POP3 garbage in the CAPA reply",
        "pop3c takes any line of the CAPA reply but `-ERR` and `.` for a capability and \
         waits for the `.` until its 5-minute command timeout; uidlmap predicts the \
         failure at once and no harness waits that long (tests/fault_judge.rs)",
    ),
    (
        "IMAP fetch faults under imapc bare",
        "a fault at the header or download fetch when imapc sizes by download: imapc reads \
         the header from the message it downloaded for the size and sends fewer of those \
         commands than uidlmap's reader (hunt seed 232394678048770, worlds 89 and 113)",
    ),
    (
        "literal_plus: false",
        "with a non-ASCII folder name and no LITERAL+, doveadm aborts (exit 134)",
    ),
    (
        "cache or POP3 faults with all_mailboxes",
        "the cached-UIDL walk and a failed POP3 listing across several mailboxes",
    ),
];

impl WorldSpec {
    /// Leaves out of this world every part listed in [`KNOWN_GAPS`].
    pub fn without_known_gaps(&mut self) {
        // A fault at the header or download fetch is modelled for imapc docs only.
        let fetch_fault = self.faults.iter().any(|f| {
            f.yaml.contains("imap.fetch_headers") || f.yaml.contains("imap.fetch_messages")
        });
        if fetch_fault && self.imapc != "docs" {
            self.imapc = "docs".into();
        }
        self.faults
            .retain(|f| !(f.yaml.contains("pop3.top") && f.yaml.contains("reply:")));
        self.events.retain(|e| {
            !e.yaml.contains("imap.fetch_sizes")
                && !e.yaml.contains("imap.fetch_messages")
                && !e.yaml.contains("expunge:")
        });
        if self
            .server
            .as_deref()
            .is_some_and(|s| s.contains("literal_plus"))
        {
            self.server = None;
        }
        // 2.3 reads `off` and an empty value as yes (issue 12, 4c): such a world acts
        // on every mailbox there (hunt seed 15, world random-15-244).
        let all_mailboxes = self.settings.iter().any(|(k, v)| {
            k.ends_with("all_mailboxes")
                && (YES.contains(&v.as_str()) || v.is_empty() || v.eq_ignore_ascii_case("off"))
        });
        if all_mailboxes {
            self.cache.clear();
            self.faults.clear();
        }
    }

    /// Ids used by a folder, POP3 or an event.
    fn used(&self) -> Vec<&str> {
        let mut used: Vec<&str> = Vec::new();
        let all = self
            .folders
            .iter()
            .flat_map(|f| f.messages.iter())
            .chain(self.pop3.iter())
            .chain(self.events.iter().flat_map(|e| e.ids.iter()));
        for id in all {
            if !used.contains(&id.as_str()) {
                used.push(id);
            }
        }
        used
    }

    /// The scenario file.
    pub fn render(&self) -> String {
        let mut o = String::new();
        for c in &self.comments {
            o.push_str(&format!("# {c}\n"));
        }
        o.push_str(&format!(
            "description: {}\n",
            q(&format!(
                "A random world ({}) for hunting disagreements with real Dovecot.",
                self.name
            ))
        ));
        if let Some(v) = &self.dovecot {
            o.push_str(&format!("dovecot: [\"{v}\"]\n"));
        }
        o.push_str(&format!("imapc: {}\n", self.imapc));
        if !self.settings.is_empty() {
            o.push_str("settings:\n");
            for (k, v) in &self.settings {
                o.push_str(&format!("  {k}: {}\n", q(v)));
            }
        }
        if let Some(p) = &self.profile {
            o.push_str(&format!("profile: {p}\n"));
        }
        if !self.quirks.is_empty() {
            o.push_str(&format!("quirks: [{}]\n", self.quirks.join(", ")));
        }
        let used = self.used();
        o.push_str("messages:\n");
        for m in self
            .messages
            .iter()
            .filter(|m| used.contains(&m.id.as_str()))
        {
            o.push_str(&format!("  {}: {}\n", m.id, m.yaml));
        }
        o.push_str(&format!(
            "imap:\n  separator: {}\n  mailboxes:\n",
            q(&self.separator.to_string())
        ));
        for f in &self.folders {
            o.push_str(&format!(
                "    {}: [{}]\n",
                q(&f.name),
                f.messages.join(", ")
            ));
        }
        o.push_str(&format!("pop3:\n  messages: [{}]\n", self.pop3.join(", ")));
        if let Some(t) = &self.uidl_template {
            o.push_str(&format!("  uidl: {}\n", q(t)));
        }
        if self.allow_duplicate_uidls {
            o.push_str("  allow_duplicate_uidls: yes\n");
        }
        if !self.cache.is_empty() {
            let entries: Vec<String> = self
                .cache
                .iter()
                .map(|(id, u)| format!("{id}: {}", q(u)))
                .collect();
            o.push_str(&format!("cache:\n  INBOX: {{ {} }}\n", entries.join(", ")));
        }
        for (key, items) in [("events", &self.events), ("faults", &self.faults)] {
            if !items.is_empty() {
                o.push_str(&format!("{key}:\n"));
                for it in items {
                    o.push_str(&format!("  - {}\n", it.yaml));
                }
            }
        }
        if let Some(s) = &self.server {
            o.push_str(&format!("server: {s}\n"));
        }
        match &self.outcome {
            Some(outcome) => o.push_str(&format!(
                "expect: {{ outcome: {outcome} }}   # what Dovecot did\n"
            )),
            None => o.push_str(
                "expect: { outcome: success }   # a placeholder: the hunt compares with Dovecot itself\n",
            ),
        }
        o
    }

    /// Smaller worlds, each one step from this one: a folder, a message, an event, a
    /// fault, a setting, the cache, the profile, a quirk, the template or the server
    /// knobs left out. Candidates that no longer load are the caller's to skip.
    pub fn shrink_candidates(&self) -> Vec<WorldSpec> {
        let mut out = Vec::new();
        for i in 0..self.faults.len() {
            let mut c = self.clone();
            c.faults.remove(i);
            out.push(c);
        }
        for i in 0..self.events.len() {
            let mut c = self.clone();
            c.events.remove(i);
            out.push(c);
        }
        for (i, f) in self.folders.iter().enumerate() {
            if f.name != "INBOX" {
                let mut c = self.clone();
                c.folders.remove(i);
                c.drop_unused();
                out.push(c);
            }
        }
        for id in self.used() {
            let mut c = self.clone();
            c.drop_message(id);
            out.push(c);
        }
        for i in 0..self.settings.len() {
            let mut c = self.clone();
            c.settings.remove(i);
            out.push(c);
        }
        let mut simpler = |f: &dyn Fn(&mut WorldSpec) -> bool| {
            let mut c = self.clone();
            if f(&mut c) {
                out.push(c);
            }
        };
        simpler(&|c| !std::mem::take(&mut c.cache).is_empty());
        simpler(&|c| c.profile.take().is_some());
        simpler(&|c| !std::mem::take(&mut c.quirks).is_empty());
        simpler(&|c| c.uidl_template.take().is_some());
        simpler(&|c| c.server.take().is_some());
        out
    }

    /// Leaves message `id` out everywhere, with the events that name it.
    pub fn drop_message(&mut self, id: &str) {
        for f in &mut self.folders {
            f.messages.retain(|m| m != id);
        }
        self.pop3.retain(|m| m != id);
        self.cache.retain(|(m, _)| m != id);
        self.events.retain(|e| !e.ids.iter().any(|m| m == id));
        self.drop_unused();
    }

    /// Events and cache entries that name messages no longer where they were.
    fn drop_unused(&mut self) {
        let inbox: Vec<String> = self
            .folders
            .iter()
            .find(|f| f.name == "INBOX")
            .map(|f| f.messages.clone())
            .unwrap_or_default();
        self.cache.retain(|(id, _)| inbox.contains(id));
        let present: Vec<String> = self
            .folders
            .iter()
            .flat_map(|f| f.messages.iter().cloned())
            .chain(self.pop3.iter().cloned())
            .collect();
        let delivered: Vec<String> = self
            .events
            .iter()
            .filter(|e| e.yaml.contains("deliver:"))
            .flat_map(|e| e.ids.iter().cloned())
            .collect();
        self.events.retain(|e| {
            e.yaml.contains("deliver:")
                || e.ids
                    .iter()
                    .all(|id| present.contains(id) || delivered.contains(id))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let opts = GenOptions {
            seed: 42,
            count: 30,
            messages: None,
        };
        let a: Vec<String> = generate(opts).iter().map(WorldSpec::render).collect();
        let b: Vec<String> = generate(opts).iter().map(WorldSpec::render).collect();
        assert_eq!(a, b);
        let c: Vec<String> = generate(GenOptions { seed: 43, ..opts })
            .iter()
            .map(WorldSpec::render)
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn quoting() {
        assert_eq!(q("a\"b\\c\r\n\0\x01"), "\"a\\\"b\\\\c\\r\\n\\0\\x01\"");
        assert_eq!(q("Grüße"), "\"Grüße\"");
    }
}
