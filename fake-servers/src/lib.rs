//! Scriptable fake POP3 and IMAP servers that serve one modelled mailbox as two views.
//!
//! This crate never depends on `uidlmap`, so a codec bug cannot hide on both sides of a
//! test. Servers take a bound listener and a shutdown future; tests bind `127.0.0.1:0`.
//! For a test that just needs both servers, build a world and call [`start`]:
//!
//! ```
//! # tokio_test::block_on(async {
//! use fake_servers::builder::{Message, WorldBuilder};
//!
//! let world = WorldBuilder::new()
//!     .message("m1", Message::generated().subject("Hello").size(2048))
//!     .mailbox("INBOX", ["m1"])
//!     .uidl_template("UID{uid}-{uidvalidity}")
//!     .build()?;
//! let servers = fake_servers::start(world)?;
//! println!("POP3 {} IMAP {} as {}", servers.pop3(), servers.imap(), servers.user());
//! // Both servers stop when `servers` is dropped.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! - [`servers`]: both servers in one call ([`start`], [`Servers`]), with TLS on demand.
//! - [`builder`]: worlds built in code, rendered as `uidlmap`'s scenario files are.
//! - [`generate`]: exact-size message generation and UIDL templates.
//! - [`world`]: the modelled account; the IMAP view and the POP3 view of each message.
//! - [`imap`]: the fake IMAP server (accept loop, replies derived from the world).
//! - [`pop3`]: the POP3 server: the world's POP3 view, scripted, plain/STLS/implicit TLS.
//! - [`latency`]: a far network on loopback (delay each way, bandwidth), waits counted.
//! - [`script`]: per-command overrides, faults, latency, timeline events, command log.
//! - [`tls`]: a test CA made by rcgen, for STLS/STARTTLS and implicit TLS.
//! - [`profiles`]: provider quirks as named view transforms; provider presets.

pub mod builder;
pub mod generate;
pub mod imap;
pub mod latency;
pub mod pop3;
pub mod profiles;
pub mod script;
pub mod servers;
pub mod tls;
pub mod world;

pub use builder::{Message, WorldBuilder};
pub use script::{Protocol, Script};
pub use servers::{FakeServers, ServeError, Servers, start};
pub use world::{SharedWorld, World};
