//! `--format html`: reports as one self-contained page (inline CSS and a small inline
//! script, nothing fetched), for people planning a migration.
//!
//! Per report: the summary (prediction, settings, doveadm's exit and result, the audit's
//! counts), Dovecot's warnings and errors, the recommended configuration block, then the
//! IMAP messages and the POP3 listing side by side with one line per pairing, coloured by
//! verdict and dashed by pass, so crossings (positional size pairing, duplicates paired
//! in list order) stand out. Runs of right pairs that run in parallel are folded into one
//! row on each side; a click unfolds them.
//!
//! Every IMAP message is an element with `data-mailbox`, `data-uid`, `data-pop3-order`,
//! `data-pass` and `data-verdict` (the JSON report's values, empty where the JSON has
//! none), so the page can be scripted. The lines are drawn by the script from the rows'
//! positions (`data-to`: the POP3 number paired, `data-true`: the true one), because
//! unfolding moves them. Everything from a report is escaped: mailbox names and UIDLs
//! are whatever a server sent. The output depends on the reports alone.

use std::collections::HashMap;
use std::fmt::Write;

use super::human::show;
use super::{MAILDIR_FILE_NAME, MailboxReport, MessageReport, Pop3Entry, Report};

/// The Dovecot version the reports predict.
const PREDICTED: &str = "Dovecot 2.3.19";

/// Runs of at least this many parallel right pairs are folded.
const FOLD_MIN: usize = 6;

const CSS: &str = r#"
:root{--row:18px;font:13px/1.35 system-ui,sans-serif;color:#1d232a;background:#f6f7f9}
body{margin:0 auto;padding:12px 20px 40px;max-width:1280px}
h1{font-size:20px;margin:18px 0 4px}h2{font-size:15px;margin:14px 0 6px}
.desc{margin:0 0 8px;color:#4a5561}
table.toc td{padding:1px 10px;text-align:right}table.toc td:first-child{text-align:left}
table.sum{border-collapse:collapse;background:#fff;border:1px solid #d8dde3}
table.sum th{text-align:left;padding:3px 10px;color:#4a5561;font-weight:600;vertical-align:top;white-space:nowrap}
table.sum td{padding:3px 10px}
.bad{color:#b00020;font-weight:600}.good{color:#1b7a3d;font-weight:600}
.chip{display:inline-block;padding:0 6px;margin:1px 4px 1px 0;border-radius:8px;color:#fff;font-size:12px}
.log{background:#fff;border:1px solid #d8dde3;padding:6px 10px;margin:0;list-style:none;font:12px/1.4 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.lv-warning{color:#8a5a00}.lv-error{color:#b00020}
pre.cfg{background:#1d232a;color:#e8f0e8;padding:8px 12px;border-radius:4px;display:inline-block;margin:4px 0;min-width:320px}
.legend{margin:8px 0;font-size:12px;color:#4a5561}.legend svg{vertical-align:middle}
.tools button{font:inherit;margin-right:6px}
.dia{position:relative;display:grid;grid-template-columns:minmax(0,1fr) 200px minmax(0,1fr);background:#fff;border:1px solid #d8dde3;margin:6px 0 20px}
.col{min-width:0;font:12px ui-monospace,monospace}
.colh,.mbh{height:var(--row);line-height:var(--row);padding:0 6px;font:600 12px system-ui,sans-serif;background:#e9edf1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mbh{background:#f1f3f6;border-top:1px solid #d8dde3}
.m,.p,.fold{height:var(--row);line-height:var(--row);white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 6px;border-left:4px solid transparent}
.m>b,.p>b{display:inline-block;min-width:6ch;text-align:right;margin-right:8px;font-weight:400;color:#6b7682}
.m>i{display:inline-block;width:1.6ch;font-style:normal;font-weight:700;color:#4a5561}
.m>u{text-decoration:none;color:#8d99a6;margin-left:8px}.m>u::before{content:"msg "}
.m>em,.p>em{font-style:normal;color:#6b7682;margin-left:8px}
.p{text-align:left}.p.free{color:#b00020;background:#fff4f4}
.fold{cursor:pointer;background:#eef7f0;color:#1b5e33;font:12px system-ui,sans-serif}
.fold:hover{background:#dcefe2}
.run:not(.open)>.in{display:none}
.fold::before{content:"▸ "}.run.open>.fold::before{content:"▾ "}
.run.open>.fold{background:#e4ece7}
.m:hover,.p:hover{background:#f0f4ff}
.m.v-right,.fold{border-left-color:#2f9e58}.m.v-wrong{border-left-color:#d62828;background:#fff0f0}
.m.v-lost{border-left-color:#f08c00;background:#fff6e8}.m.v-order-lost{border-left-color:#7b2cbf;background:#f6f0fc}
.m.v-not-migrated{border-left-color:#8d99a6;background:#f2f3f5}.m.v-unknown{border-left-color:#d4a72c}
.c-right{background:#2f9e58}.c-wrong{background:#d62828}.c-lost{background:#f08c00}
.c-order-lost{background:#7b2cbf}.c-not-migrated{background:#8d99a6}.c-unknown{background:#b8901c}
svg.wires{display:block;width:200px;height:0;overflow:visible}
.wires line,.legend line{stroke-width:1.6;fill:none}
.v-right{stroke:#2f9e58}.wires .v-right{opacity:.5}
.v-wrong{stroke:#d62828;stroke-width:2.6!important}.v-order-lost{stroke:#7b2cbf;stroke-width:2.2!important}
.v-lost{stroke:#f08c00}.v-not-migrated{stroke:#8d99a6}.v-unknown{stroke:#d4a72c}.v-none{stroke:#9aa5b1}
.p-header{stroke-dasharray:7 4}.p-cache{stroke-dasharray:2 3}
.wires .truth,.legend .truth{stroke:#1d232a;stroke-width:1.6;stroke-dasharray:3 3;opacity:.85}
.wires .band{stroke-width:7;opacity:.3}
"#;

const JS: &str = r#"
"use strict";
(function(){
function anchor(el){var r=el.closest('.run');return r&&!r.classList.contains('open')?r.firstElementChild:el;}
function draw(d){
  var svg=d.querySelector('svg.wires');svg.style.height='0px';svg.style.height=d.clientHeight+'px';
  var w=200,pop={},seen={},back=[],front=[];
  d.querySelectorAll('.p').forEach(function(p){pop[p.dataset.n]=p;});
  function y(el){return (el.offsetTop+el.offsetHeight/2).toFixed(1);}
  function line(a,b,cls,list){
    if(!a||!b)return;a=anchor(a);b=anchor(b);
    var folded=a.classList.contains('fold')||b.classList.contains('fold');
    if(folded){var k=y(a)+'|'+y(b)+'|'+cls;if(seen[k])return;seen[k]=1;cls+=' band';}
    list.push('<line x1="0" y1="'+y(a)+'" x2="'+w+'" y2="'+y(b)+'" class="'+cls+'"/>');
  }
  d.querySelectorAll('.m').forEach(function(m){
    var v=m.dataset.verdict||'none',to=m.dataset.to,t=m.dataset.true;
    if(to)line(m,pop[to],'v-'+v+(m.dataset.pass?' p-'+m.dataset.pass:''),v==='right'?back:front);
    if(t&&t!==to)line(m,pop[t],'truth',front);
  });
  svg.innerHTML=back.join('')+front.join('');
}
function all(){document.querySelectorAll('.dia').forEach(draw);}
document.addEventListener('click',function(e){
  var f=e.target.closest('.fold'),b=e.target.closest('button[data-open]');
  if(f){var d=f.closest('.dia'),id=f.parentElement.dataset.run,open=!f.parentElement.classList.contains('open');
    d.querySelectorAll('.run[data-run="'+id+'"]').forEach(function(r){r.classList.toggle('open',open);});draw(d);}
  if(b){var d2=document.getElementById(b.dataset.open),o=b.dataset.how==='1';
    d2.querySelectorAll('.run').forEach(function(r){r.classList.toggle('open',o);});draw(d2);}
});
window.addEventListener('resize',all);
all();
})();
"#;

/// Escapes text for HTML content and attribute values (quoted with `"`). Control
/// characters become numeric references; a NUL, which HTML cannot hold, becomes U+FFFD.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\0' => o.push('\u{FFFD}'),
            c if c.is_control() => {
                let _ = write!(o, "&#{};", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// The page for `reports` (one section each, a table of contents when several).
pub fn render(reports: &[Report]) -> String {
    let messages: usize = reports
        .iter()
        .flat_map(|r| &r.dovecot.mailboxes)
        .map(|m| m.messages.len())
        .sum();
    let mut o = String::with_capacity(4096 + messages * 400);
    let title = match reports {
        [one] => one.name.clone(),
        _ => format!("{} reports", reports.len()),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>uidlmap: {}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    if reports.len() > 1 {
        contents(&mut o, reports);
    }
    for (i, r) in reports.iter().enumerate() {
        section(&mut o, &format!("r{i}"), r);
    }
    let _ = write!(o, "<script>{JS}</script>\n</body></html>\n");
    o
}

/// The table of contents: one row per report with what went wrong, if anything.
fn contents(o: &mut String, reports: &[Report]) {
    o.push_str(
        "<nav><h2>Reports</h2><table class=\"sum toc\"><tr><th>report</th><th>doveadm exit</th>\
         <th>wrong</th><th>lost</th><th>order-lost</th><th>not migrated</th><th>expectation</th></tr>",
    );
    let cell = |n: usize| {
        if n == 0 {
            "<td>0</td>".to_string()
        } else {
            format!("<td class=\"bad\">{n}</td>")
        }
    };
    for (i, r) in reports.iter().enumerate() {
        let _ = write!(
            o,
            "<tr><td><a href=\"#r{i}\">{}</a></td><td class=\"{}\">{}</td>",
            esc(&r.name),
            if r.dovecot.exit_code == 0 { "" } else { "bad" },
            r.dovecot.exit_code
        );
        match &r.audit {
            Some(a) => {
                let c = &a.counts;
                for n in [c.wrong, c.lost, c.order_lost, c.not_migrated] {
                    o.push_str(&cell(n));
                }
            }
            None => o.push_str("<td colspan=\"4\">no audit</td>"),
        }
        let _ = write!(
            o,
            "<td>{}</td></tr>",
            match &r.expectation {
                None => "",
                Some(e) if e.met => "met",
                Some(_) => "<span class=\"bad\">NOT met</span>",
            }
        );
    }
    o.push_str("</table></nav>\n");
}

/// One report: summary, log, advice, legend, diagram.
fn section(o: &mut String, id: &str, r: &Report) {
    let _ = write!(o, "<section id=\"{id}\"><h1>{}</h1>", esc(&r.name));
    if let Some(d) = &r.description {
        let _ = write!(o, "<p class=\"desc\">{}</p>", esc(d));
    }
    summary(o, r);
    let problems: Vec<&String> = r
        .dovecot
        .log
        .iter()
        .filter(|l| !l.starts_with("Debug:"))
        .collect();
    if !problems.is_empty() {
        o.push_str("<h2>Dovecot's warnings and errors</h2><ul class=\"log\">");
        for l in problems {
            let class = if l.starts_with("Error:") {
                "lv-error"
            } else {
                "lv-warning"
            };
            let _ = write!(o, "<li class=\"{class}\">{}</li>", esc(l));
        }
        o.push_str("</ul>");
    }
    if let Some(a) = &r.audit {
        let _ = write!(
            o,
            "<h2>Recommendation</h2><p class=\"reason\">{}</p>",
            esc(&a.recommendation.reason)
        );
        if !a.recommendation.config.is_empty() {
            let _ = write!(
                o,
                "<pre class=\"cfg\">{}</pre>",
                esc(a.recommendation.config.trim_end())
            );
        }
    }
    let listed = r.dovecot.mailboxes.iter().any(|m| !m.messages.is_empty())
        || r.pop3.as_ref().is_some_and(|p| !p.is_empty());
    if listed {
        legend(o);
        diagram(o, id, r);
    }
    o.push_str("</section>\n");
}

/// The summary table.
fn summary(o: &mut String, r: &Report) {
    let d = &r.dovecot;
    let settings: Vec<String> = r
        .settings
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let _ = write!(
        o,
        "<table class=\"sum\"><tr><th>Prediction</th><td>{PREDICTED}, imapc profile {}, destination {}</td></tr>\
         <tr><th>Settings</th><td>{}</td></tr>\
         <tr><th>doveadm</th><td class=\"{}\">exit {}: {}</td></tr>",
        esc(&r.imapc),
        esc(&r.destination),
        if settings.is_empty() {
            "defaults (plugin off)".to_string()
        } else {
            esc(&settings.join(", "))
        },
        if d.exit_code == 0 { "good" } else { "bad" },
        d.exit_code,
        esc(&d.result)
    );
    for mb in &d.mailboxes {
        let passes = mb.passes.as_ref().map_or(String::new(), |p| {
            format!(
                "; cached uidls={}, size matches={}, total={}{}",
                p.cached_uidls,
                p.size_matches,
                p.total,
                if p.header_pass {
                    format!("; header pass matched {}", p.header_matches)
                } else {
                    String::new()
                }
            )
        });
        let _ = write!(
            o,
            "<tr><th>{}</th><td>{}{}{}</td></tr>",
            esc(&mb.name),
            esc(&mb.status),
            if mb.copied { "" } else { ", not copied" },
            passes
        );
    }
    if let Some(a) = &r.audit {
        let c = &a.counts;
        o.push_str("<tr><th>Audit</th><td>");
        for (class, n, word) in [
            ("right", c.right, "right"),
            ("wrong", c.wrong, "wrong"),
            ("lost", c.lost, "lost"),
            ("order-lost", c.order_lost, "order-lost"),
            ("not-migrated", c.not_migrated, "not migrated"),
            ("unknown", c.unknown, "unknown"),
        ] {
            let _ = write!(o, "<span class=\"chip c-{class}\">{n} {word}</span>");
        }
        o.push_str("</td></tr>");
    }
    if let Some(t) = &r.traffic {
        let _ = write!(
            o,
            "<tr><th>Traffic</th><td>POP3 {} commands in {} round trips; IMAP {} commands in {} round trips</td></tr>",
            t.pop3.commands, t.pop3.round_trips, t.imap.commands, t.imap.round_trips
        );
    }
    if let Some(e) = &r.expectation {
        let _ = write!(
            o,
            "<tr><th>Expectation</th><td class=\"{}\">{}</td></tr>",
            if e.met { "good" } else { "bad" },
            if e.met {
                "met".to_string()
            } else {
                esc(&format!("NOT met: {}", e.failures.join("; ")))
            }
        );
    }
    o.push_str("</table>");
}

/// What the colours and dashes mean.
fn legend(o: &mut String) {
    o.push_str("<div class=\"legend\">");
    let sample = |o: &mut String, class: &str, word: &str| {
        let _ = write!(
            o,
            "<svg width=\"34\" height=\"10\"><line x1=\"2\" y1=\"5\" x2=\"32\" y2=\"5\" class=\"{class}\"/></svg> {word} &nbsp; "
        );
    };
    for (v, word) in [
        ("right", "right"),
        ("wrong", "wrong"),
        ("order-lost", "order lost"),
        ("lost", "lost (no line: no UIDL)"),
        ("not-migrated", "not migrated"),
        ("unknown", "unknown"),
    ] {
        sample(o, &format!("v-{v}"), word);
    }
    o.push_str("<br>pass: ");
    sample(o, "v-none", "size (S)");
    sample(o, "v-none p-header", "header (H)");
    sample(o, "v-none p-cache", "cache (C)");
    sample(
        o,
        "truth",
        "the true partner, where the pairing is not right",
    );
    o.push_str("<br>POP3 rows in red: no IMAP message gets their UIDL.</div>");
}

/// The POP3 number an IMAP message is paired with: the stored order, else the POP3
/// message whose UIDL it got.
fn partner(m: &MessageReport, by_uidl: &HashMap<&str, u32>) -> Option<u32> {
    m.order.or_else(|| {
        let u = m
            .plugin_uidl
            .as_deref()
            .or(m.uidl.as_deref().filter(|u| *u != MAILDIR_FILE_NAME))?;
        by_uidl.get(u).copied()
    })
}

/// The true POP3 number, from the report's `expected` (`UIDL (POP3 msg N)`).
fn true_number(m: &MessageReport) -> Option<u32> {
    let e = m.expected.as_deref()?;
    let (_, n) = e.rsplit_once(" (POP3 msg ")?;
    n.strip_suffix(')')?.parse().ok()
}

/// A fold: `len` IMAP messages from index `start` of mailbox `mailbox`, paired in
/// parallel with POP3 numbers from `pop3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fold {
    mailbox: usize,
    start: usize,
    len: usize,
    pop3: u32,
}

/// Finds the runs of right pairs worth folding: consecutive IMAP messages, all right,
/// paired with consecutive POP3 messages that no other IMAP message points at.
fn folds(mailboxes: &[MailboxReport], to: &[Vec<Option<u32>>], pop3: &[Pop3Entry]) -> Vec<Fold> {
    let mut claims: HashMap<u32, usize> = HashMap::new();
    for n in to.iter().flatten().flatten() {
        *claims.entry(*n).or_default() += 1;
    }
    let listed: HashMap<u32, ()> = pop3.iter().map(|p| (p.number, ())).collect();
    let foldable = |mb: usize, i: usize| -> Option<u32> {
        let n = to[mb][i]?;
        (mailboxes[mb].messages[i].verdict == Some("right")
            && claims.get(&n) == Some(&1)
            && listed.contains_key(&n))
        .then_some(n)
    };
    let mut out = Vec::new();
    for (mb, mailbox) in mailboxes.iter().enumerate() {
        let mut i = 0;
        while i < mailbox.messages.len() {
            let Some(first) = foldable(mb, i) else {
                i += 1;
                continue;
            };
            let mut len = 1;
            while i + len < mailbox.messages.len()
                && foldable(mb, i + len) == first.checked_add(len as u32)
            {
                len += 1;
            }
            if len >= FOLD_MIN {
                out.push(Fold {
                    mailbox: mb,
                    start: i,
                    len,
                    pop3: first,
                });
            }
            i += len;
        }
    }
    out
}

/// The side-by-side listings; the script draws the lines into the SVG between them.
fn diagram(o: &mut String, id: &str, r: &Report) {
    let pop3: &[Pop3Entry] = r.pop3.as_deref().unwrap_or_default();
    let mut by_uidl: HashMap<&str, u32> = HashMap::new();
    for p in pop3 {
        by_uidl.entry(p.uidl.as_str()).or_insert(p.number);
    }
    let mailboxes = &r.dovecot.mailboxes;
    let to: Vec<Vec<Option<u32>>> = mailboxes
        .iter()
        .map(|mb| mb.messages.iter().map(|m| partner(m, &by_uidl)).collect())
        .collect();
    let folds = folds(mailboxes, &to, pop3);
    if !folds.is_empty() {
        let _ = write!(
            o,
            "<div class=\"tools\"><button data-open=\"{id}d\" data-how=\"1\">unfold all</button>\
             <button data-open=\"{id}d\" data-how=\"0\">fold all</button> {} runs of right pairs folded</div>",
            folds.len()
        );
    }
    let _ = write!(
        o,
        "<div class=\"dia\" id=\"{id}d\"><div class=\"col imap\"><div class=\"colh\">IMAP: UID, pass, UIDL Dovecot stores</div>"
    );
    for (mb, mailbox) in mailboxes.iter().enumerate() {
        let _ = write!(
            o,
            "<div class=\"mbh\">{} — {}{}</div>",
            esc(&mailbox.name),
            esc(&mailbox.status),
            if mailbox.copied { "" } else { ", not copied" }
        );
        let mut here = folds
            .iter()
            .enumerate()
            .filter(|(_, f)| f.mailbox == mb)
            .peekable();
        let mut i = 0;
        while i < mailbox.messages.len() {
            if let Some((k, f)) = here.next_if(|(_, f)| f.start == i) {
                let last = &mailbox.messages[i + f.len - 1];
                let _ = write!(
                    o,
                    "<div class=\"run\" data-run=\"{k}\"><div class=\"fold\">{} right pairs: UID {}–{} ↔ POP3 {}–{}</div><div class=\"in\">",
                    f.len,
                    mailbox.messages[i].uid,
                    last.uid,
                    f.pop3,
                    f.pop3 + f.len as u32 - 1
                );
                let run = i..i + f.len;
                for (m, to) in mailbox.messages[run.clone()].iter().zip(&to[mb][run]) {
                    imap_row(o, &mailbox.name, m, *to);
                }
                o.push_str("</div></div>");
                i += f.len;
            } else {
                imap_row(o, &mailbox.name, &mailbox.messages[i], to[mb][i]);
                i += 1;
            }
        }
    }
    let _ = write!(
        o,
        "</div><svg class=\"wires\" xmlns=\"http://www.w3.org/2000/svg\"></svg><div class=\"col pop3\"><div class=\"colh\">POP3: number, UIDL, LIST size</div>"
    );
    // The maildrop's header row faces the first mailbox's, so parallel pairs run level.
    match &r.pop3 {
        None => o.push_str("<div class=\"mbh\">POP3 listing not in this report</div>"),
        Some(p) => {
            let _ = write!(
                o,
                "<div class=\"mbh\">maildrop — {} messages</div>",
                p.len()
            );
        }
    }
    pop3_column(o, pop3, &folds, &to);
    o.push_str("</div></div>");
}

/// The POP3 rows, the folds' partners folded alike.
fn pop3_column(o: &mut String, pop3: &[Pop3Entry], folds: &[Fold], to: &[Vec<Option<u32>>]) {
    let claimed: std::collections::HashSet<u32> = to.iter().flatten().flatten().copied().collect();
    let starts: HashMap<u32, (usize, &Fold)> = folds
        .iter()
        .enumerate()
        .map(|(k, f)| (f.pop3, (k, f)))
        .collect();
    let mut open_until: Option<u32> = None;
    for p in pop3 {
        if let Some((k, f)) = starts.get(&p.number) {
            let _ = write!(
                o,
                "<div class=\"run\" data-run=\"{k}\"><div class=\"fold\">{} right pairs: POP3 {}–{}</div><div class=\"in\">",
                f.len,
                f.pop3,
                f.pop3 + f.len as u32 - 1
            );
            open_until = Some(f.pop3 + f.len as u32 - 1);
        }
        let _ = write!(
            o,
            "<div class=\"p{}\" data-n=\"{}\"><b>{}</b>{}{}</div>",
            if claimed.contains(&p.number) {
                ""
            } else {
                " free"
            },
            p.number,
            p.number,
            esc(&show(&p.uidl)),
            p.size.map_or(String::new(), |s| format!("<em>{s}</em>"))
        );
        if open_until == Some(p.number) {
            o.push_str("</div></div>");
            open_until = None;
        }
    }
    if open_until.is_some() {
        // A fold whose POP3 range runs past the listing's end (numbers with gaps).
        o.push_str("</div></div>");
    }
}

/// One IMAP message's row.
fn imap_row(o: &mut String, mailbox: &str, m: &MessageReport, to: Option<u32>) {
    let verdict = m.verdict.unwrap_or("");
    let pass = m.via.unwrap_or("");
    let mut title = String::from(if verdict.is_empty() {
        "not judged"
    } else {
        verdict
    });
    if let Some(c) = &m.cause {
        let _ = write!(title, " ({c})");
    }
    if let Some(e) = &m.expected {
        let _ = write!(title, "; true: {e}");
    }
    let _ = write!(
        o,
        "<div class=\"m{}\" data-mailbox=\"{}\" data-uid=\"{}\" data-pop3-order=\"{}\" data-pass=\"{}\" data-verdict=\"{}\"",
        if verdict.is_empty() {
            String::new()
        } else {
            format!(" v-{}", esc(verdict))
        },
        esc(mailbox),
        m.uid,
        m.order.map_or(String::new(), |n| n.to_string()),
        esc(pass),
        esc(verdict)
    );
    if let Some(n) = to {
        let _ = write!(o, " data-to=\"{n}\"");
    }
    if let Some(n) = true_number(m).filter(|_| verdict != "right") {
        let _ = write!(o, " data-true=\"{n}\"");
    }
    let _ = write!(
        o,
        " title=\"{}\"><b>{}</b><i>{}</i>{}",
        esc(&title),
        m.uid,
        match pass {
            "size" => "S",
            "header" => "H",
            "cache" => "C",
            _ => "",
        },
        m.uidl.as_deref().map_or("—".to_string(), |u| esc(&show(u)))
    );
    if let Some(id) = &m.message {
        let _ = write!(o, "<u>{}</u>", esc(id));
    }
    if !matches!(verdict, "right" | "") {
        let _ = write!(o, "<em>{}</em>", esc(&title));
    }
    o.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"\u{1}\0"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&#1;\u{FFFD}"
        );
    }

    fn message(uid: u32, order: Option<u32>, verdict: &'static str) -> MessageReport {
        MessageReport {
            uid,
            message: None,
            uidl: order.map(|n| format!("u{n}")),
            plugin_uidl: None,
            order,
            via: order.map(|_| "size"),
            verdict: Some(verdict),
            cause: None,
            expected: None,
        }
    }

    fn report(messages: Vec<MessageReport>, pop3: u32) -> Report {
        Report {
            name: "t".into(),
            description: None,
            settings: Default::default(),
            imapc: "docs".into(),
            destination: "maildir".into(),
            dovecot_version: "2.3".into(),
            setting_spellings: Vec::new(),
            other_versions: Vec::new(),
            dovecot: super::super::DovecotReport {
                exit_code: 0,
                result: "success (exit 0)".into(),
                mailboxes: vec![MailboxReport {
                    name: "INBOX".into(),
                    status: "synced".into(),
                    copied: true,
                    passes: None,
                    messages,
                }],
                log: Vec::new(),
            },
            pop3: Some(
                (1..=pop3)
                    .map(|n| Pop3Entry {
                        number: n,
                        uidl: format!("u{n}"),
                        size: None,
                    })
                    .collect(),
            ),
            audit: None,
            traffic: None,
            expectation: None,
        }
    }

    #[test]
    fn parallel_right_runs_fold_and_a_crossing_splits_them() {
        // 1..=8 right, 9 and 10 crossed, 11..=13 right (too short to fold), 14 lost.
        let mut ms: Vec<MessageReport> = (1..=8).map(|u| message(u, Some(u), "right")).collect();
        ms.push(message(9, Some(10), "wrong"));
        ms.push(message(10, Some(9), "wrong"));
        ms.extend((11..=13).map(|u| message(u, Some(u), "right")));
        ms.push(message(14, None, "lost"));
        let r = report(ms, 14);
        let to: Vec<Vec<Option<u32>>> = vec![
            r.dovecot.mailboxes[0]
                .messages
                .iter()
                .map(|m| m.order)
                .collect(),
        ];
        let f = folds(&r.dovecot.mailboxes, &to, r.pop3.as_deref().unwrap());
        assert_eq!(
            f,
            [Fold {
                mailbox: 0,
                start: 0,
                len: 8,
                pop3: 1
            }]
        );
        let page = render(std::slice::from_ref(&r));
        assert_eq!(page, render(&[r]));
        assert_eq!(
            page.matches("class=\"run\"").count(),
            2,
            "one fold per side"
        );
        assert_eq!(page.matches("data-verdict=").count(), 14);
        assert!(page.contains("class=\"p free\" data-n=\"14\""));
    }

    #[test]
    fn a_report_without_listings_renders() {
        let mut r = report(Vec::new(), 0);
        r.dovecot.mailboxes.clear();
        r.pop3 = None;
        let page = render(&[r]);
        assert!(page.contains("<h1>t</h1>") && !page.contains("class=\"dia\""));
    }

    #[test]
    fn true_number_is_read_from_expected() {
        let m = MessageReport {
            uid: 1,
            message: None,
            uidl: None,
            plugin_uidl: None,
            order: None,
            via: None,
            verdict: Some("lost"),
            cause: None,
            expected: Some("a (POP3 msg 1) (POP3 msg 12)".into()),
        };
        assert_eq!(true_number(&m), Some(12));
    }
}
