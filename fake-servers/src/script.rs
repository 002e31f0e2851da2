//! Per-command overrides, faults, latency and timeline events, shared by both servers.
//!
//! Replies are derived from the world; a [`Script`] only bends them. Every command a
//! server receives is offered to the script twice: [`Script::before`] (which may delay,
//! replace, truncate or drop the reply, and fires `Phase::Before` events) and
//! [`Script::after`] once the reply is written (which fires `Phase::After` events).
//! Counters are global across sessions, so "the first two logins fail" holds across
//! reconnects. The script also keeps the command log that reports count.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::world::{ImapMessage, MessageId, Pop3Message, SharedWorld};

/// Which server a command reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Pop3,
    Imap,
}

/// Which commands a rule or event applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandMatch {
    /// `None` matches both servers.
    pub protocol: Option<Protocol>,
    /// Case-insensitive prefix of the command line (IMAP: without the tag), e.g.
    /// `TOP 2`, `UIDL`, `UID FETCH`. `None` matches every command.
    pub prefix: Option<String>,
    /// Case-insensitive substring the command line must contain, e.g. `RFC822.SIZE`.
    pub contains: Option<String>,
    /// 1-based number of the command within its session.
    pub nth_in_session: Option<u64>,
}

impl CommandMatch {
    /// Matches commands of `protocol` starting with `prefix`.
    pub fn prefix(protocol: Protocol, prefix: &str) -> Self {
        CommandMatch {
            protocol: Some(protocol),
            prefix: Some(prefix.to_string()),
            ..Default::default()
        }
    }

    fn matches(&self, protocol: Protocol, nth: u64, command: &str) -> bool {
        if self.protocol.is_some_and(|p| p != protocol) {
            return false;
        }
        if self.nth_in_session.is_some_and(|n| n != nth) {
            return false;
        }
        let upper = command.to_ascii_uppercase();
        if let Some(prefix) = &self.prefix
            && !upper.starts_with(&prefix.to_ascii_uppercase())
        {
            return false;
        }
        if let Some(sub) = &self.contains
            && !upper.contains(&sub.to_ascii_uppercase())
        {
            return false;
        }
        true
    }
}

/// What a fault rule does to the reply of a matching command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Send these bytes instead of the real reply. For IMAP, the string `{tag}` is
    /// replaced by the command's tag.
    Reply(Vec<u8>),
    /// Wait this long before replying.
    Delay(Duration),
    /// Close the connection without replying.
    Disconnect,
    /// Send only the first `n` bytes of the real reply, then close the connection.
    Truncate(usize),
}

/// A fault rule: an action applied to matching commands, a bounded number of times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub on: CommandMatch,
    pub action: FaultAction,
    /// Matching commands to let through untouched before the rule applies.
    pub skip: u64,
    /// How many times the rule applies; `None` = every time.
    pub times: Option<u64>,
}

/// When an event fires relative to the command that triggers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the server computes its reply: the reply already sees the change.
    Before,
    /// After the reply is written.
    After,
}

/// A change to the world.
#[derive(Clone, Debug)]
pub enum WorldChange {
    /// A new message arrives in an IMAP mailbox (created if missing) with the next UID.
    ImapDeliver {
        mailbox: String,
        message: ImapMessage,
    },
    /// A message leaves every IMAP mailbox that holds it.
    ImapExpunge { id: MessageId },
    /// A new message arrives at the end of the POP3 maildrop.
    Pop3Deliver { message: Pop3Message },
    /// A message leaves the POP3 maildrop (sessions already logged in see `-ERR`).
    Pop3Remove { id: MessageId },
    /// The POP3 maildrop is put in this order; messages not named keep their relative
    /// order after the named ones.
    Pop3Reorder { order: Vec<MessageId> },
}

/// A timeline event: world changes tied to a protocol step. Fires once.
#[derive(Clone, Debug)]
pub struct Event {
    pub on: CommandMatch,
    pub phase: Phase,
    /// Fire at the n-th matching command (1-based).
    pub nth: u64,
    pub changes: Vec<WorldChange>,
}

/// What the server must do with the reply to one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directive {
    pub delay: Option<Duration>,
    pub reply: Option<Vec<u8>>,
    pub disconnect: bool,
    pub truncate: Option<usize>,
}

/// One logged command. Passwords are never logged: callers pass the redacted form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub protocol: Protocol,
    pub session: u64,
    pub command: String,
}

/// The most commands the log keeps; later ones are counted but not stored.
pub const LOG_LIMIT: usize = 200_000;

#[derive(Debug, Default)]
struct State {
    rules: Vec<(Rule, u64)>,
    events: Vec<(Event, u64, bool)>,
    log: Vec<LogEntry>,
    commands: [u64; 2],
    sessions: [u64; 2],
}

/// Faults and events for both servers, plus the command log. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Script(Arc<Mutex<State>>);

impl Script {
    pub fn new(rules: Vec<Rule>, events: Vec<Event>) -> Self {
        Script(Arc::new(Mutex::new(State {
            rules: rules.into_iter().map(|r| (r, 0)).collect(),
            events: events.into_iter().map(|e| (e, 0, false)).collect(),
            ..Default::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new session and returns its id (1-based, per protocol).
    pub fn open_session(&self, protocol: Protocol) -> u64 {
        let mut s = self.state();
        s.sessions[protocol as usize] += 1;
        s.sessions[protocol as usize]
    }

    /// Offers a command before the reply is computed. `command` is the command line
    /// without the IMAP tag and with any password already redacted; `nth` is its
    /// 1-based number in the session.
    pub fn before(
        &self,
        world: &SharedWorld,
        protocol: Protocol,
        session: u64,
        nth: u64,
        command: &str,
    ) -> Directive {
        let mut s = self.state();
        s.commands[protocol as usize] += 1;
        if s.log.len() < LOG_LIMIT {
            s.log.push(LogEntry {
                protocol,
                session,
                command: command.to_string(),
            });
        }
        fire_events(&mut s, world, protocol, nth, command, Phase::Before);
        let mut d = Directive::default();
        for (rule, seen) in s.rules.iter_mut() {
            if !rule.on.matches(protocol, nth, command) {
                continue;
            }
            *seen += 1;
            if *seen <= rule.skip {
                continue;
            }
            if rule.times.is_some_and(|t| *seen - rule.skip > t) {
                continue;
            }
            match &rule.action {
                FaultAction::Reply(bytes) => d.reply = Some(bytes.clone()),
                FaultAction::Delay(t) => d.delay = Some(d.delay.unwrap_or_default() + *t),
                FaultAction::Disconnect => d.disconnect = true,
                FaultAction::Truncate(n) => d.truncate = Some(*n),
            }
        }
        d
    }

    /// Offers a command after its reply was written.
    pub fn after(&self, world: &SharedWorld, protocol: Protocol, nth: u64, command: &str) {
        let mut s = self.state();
        fire_events(&mut s, world, protocol, nth, command, Phase::After);
    }

    /// Every logged command so far, in arrival order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.state().log.clone()
    }

    /// Commands received so far by one server.
    pub fn command_count(&self, protocol: Protocol) -> u64 {
        self.state().commands[protocol as usize]
    }

    /// Sessions opened so far on one server.
    pub fn session_count(&self, protocol: Protocol) -> u64 {
        self.state().sessions[protocol as usize]
    }
}

fn fire_events(
    s: &mut State,
    world: &SharedWorld,
    protocol: Protocol,
    nth: u64,
    command: &str,
    phase: Phase,
) {
    for (event, seen, fired) in s.events.iter_mut() {
        if *fired || event.phase != phase || !event.on.matches(protocol, nth, command) {
            continue;
        }
        *seen += 1;
        if *seen < event.nth.max(1) {
            continue;
        }
        *fired = true;
        apply(world, &event.changes);
    }
}

/// Applies world changes in order.
pub fn apply(world: &SharedWorld, changes: &[WorldChange]) {
    let mut w = world.lock();
    for change in changes {
        match change {
            WorldChange::ImapDeliver { mailbox, message } => {
                let uidvalidity = w.imap.mailboxes.first().map_or(1, |m| m.uidvalidity);
                let mb = match w.imap.mailboxes.iter().position(|m| &m.name == mailbox) {
                    Some(i) => &mut w.imap.mailboxes[i],
                    None => {
                        w.imap
                            .mailboxes
                            .push(crate::world::ImapMailbox::new(mailbox, uidvalidity));
                        w.imap.mailboxes.last_mut().expect("just pushed")
                    }
                };
                mb.append(message.clone());
            }
            WorldChange::ImapExpunge { id } => {
                for mb in &mut w.imap.mailboxes {
                    mb.messages.retain(|m| &m.id != id);
                }
            }
            WorldChange::Pop3Deliver { message } => w.pop3.messages.push(message.clone()),
            WorldChange::Pop3Remove { id } => w.pop3.messages.retain(|m| &m.id != id),
            WorldChange::Pop3Reorder { order } => {
                let mut rest = std::mem::take(&mut w.pop3.messages);
                let mut out = Vec::with_capacity(rest.len());
                for id in order {
                    if let Some(i) = rest.iter().position(|m| &m.id == id) {
                        out.push(rest.remove(i));
                    }
                }
                out.extend(rest);
                w.pop3.messages = out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn cmd(protocol: Protocol, prefix: &str) -> CommandMatch {
        CommandMatch::prefix(protocol, prefix)
    }

    #[test]
    fn rule_skip_and_times() {
        let world = SharedWorld::new(World::default());
        let script = Script::new(
            vec![Rule {
                on: cmd(Protocol::Pop3, "pass"),
                action: FaultAction::Reply(b"-ERR [IN-USE] locked\r\n".to_vec()),
                skip: 1,
                times: Some(2),
            }],
            vec![],
        );
        let replies: Vec<bool> = (0..5)
            .map(|_| {
                script
                    .before(&world, Protocol::Pop3, 1, 2, "PASS ***")
                    .reply
                    .is_some()
            })
            .collect();
        assert_eq!(replies, [false, true, true, false, false]);
        assert!(
            script
                .before(&world, Protocol::Imap, 1, 2, "PASS x")
                .reply
                .is_none()
        );
        assert_eq!(script.command_count(Protocol::Pop3), 5);
    }

    #[test]
    fn match_contains_and_nth() {
        let m = CommandMatch {
            protocol: Some(Protocol::Imap),
            prefix: Some("uid fetch".into()),
            contains: Some("rfc822.size".into()),
            nth_in_session: None,
        };
        assert!(m.matches(Protocol::Imap, 9, "UID FETCH 1,2 (RFC822.SIZE)"));
        assert!(!m.matches(Protocol::Imap, 9, "UID FETCH 1,2 (BODY.PEEK[HEADER])"));
        let n = CommandMatch {
            nth_in_session: Some(3),
            ..Default::default()
        };
        assert!(n.matches(Protocol::Pop3, 3, "LIST"));
        assert!(!n.matches(Protocol::Pop3, 4, "LIST"));
    }

    #[test]
    fn events_fire_once_at_nth() {
        let world = SharedWorld::new(World::default());
        let script = Script::new(
            vec![],
            vec![Event {
                on: cmd(Protocol::Imap, "UID FETCH"),
                phase: Phase::After,
                nth: 2,
                changes: vec![WorldChange::Pop3Deliver {
                    message: Pop3Message::honest("m9", "u9", b"a: b\r\n\r\n".to_vec()),
                }],
            }],
        );
        for _ in 0..4 {
            script.after(&world, Protocol::Imap, 1, "UID FETCH 1:* (FLAGS)");
        }
        assert_eq!(world.lock().pop3.messages.len(), 1);
    }

    #[test]
    fn reorder_keeps_unnamed_after() {
        let world = SharedWorld::new(World::default());
        for id in ["a", "b", "c"] {
            world
                .lock()
                .pop3
                .messages
                .push(Pop3Message::honest(id, id, vec![]));
        }
        apply(
            &world,
            &[WorldChange::Pop3Reorder {
                order: vec!["c".into(), "a".into()],
            }],
        );
        let ids: Vec<_> = world
            .lock()
            .pop3
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }
}
