//! IMAP: a pure response codec and an async client over any stream.
//!
//! - [`codec`]: PURE. Tagged, untagged and continuation responses, literals, FETCH
//!   items and response codes; "need more bytes" is a result, not an error.
//! - [`client`]: ASYNC. Login, LIST, EXAMINE, UID listings and batched, pipelined
//!   fetches of sizes, headers and whole messages; STARTTLS and implicit TLS.

pub mod client;
pub mod codec;

pub use client::{
    Batching, Fetched, ImapClient, ImapError, Limits, Listed, Mailbox, MailboxStatus, Selected,
    SessionState, SetStyle, Stats, Timeouts, Upgrade, connect,
};
