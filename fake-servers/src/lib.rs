//! Scriptable fake POP3 and IMAP servers that serve one modelled mailbox as two views.
//!
//! This crate never depends on `uidlmap`, so a codec bug cannot hide on both sides of a
//! test. Servers take a bound listener and a shutdown future; tests bind `127.0.0.1:0`.
//!
//! - [`world`]: the modelled account; the IMAP view and the POP3 view of each message.
//! - [`imap`]: the fake IMAP server (accept loop, replies derived from the world).
//! - [`pop3`]: the POP3 server: the world's POP3 view, scripted, plain/STLS/implicit TLS.
//! - [`latency`]: a far network on loopback (delay each way, bandwidth), waits counted.
//! - [`script`]: per-command overrides, faults, latency, timeline events, command log.
//! - [`tls`]: a test CA made by rcgen, for STLS/STARTTLS and implicit TLS.
//! - [`profiles`]: provider quirks as named view transforms; provider presets.

pub mod imap;
pub mod latency;
pub mod pop3;
pub mod profiles;
pub mod script;
pub mod tls;
pub mod world;

pub use script::{Protocol, Script};
pub use world::{SharedWorld, World};
