//! POP3: a pure codec and an async client over any stream.
//!
//! - [`codec`]: PURE. Status lines with response codes, multi-line blocks with
//!   dot-unstuffing, `CAPA`, and `UIDL`/`LIST` listings parsed by Dovecot pop3c's rules.
//! - [`client`]: ASYNC over any `AsyncRead + AsyncWrite + Unpin`: greeting, `CAPA`,
//!   `STLS`, `USER`/`PASS`, `AUTH PLAIN`, `APOP`, `STAT`, `UIDL`, `LIST`, pipelined
//!   `TOP`/`RETR`, `QUIT`; plus [`connect`] for plain, implicit TLS and STLS.

pub mod client;
pub mod codec;

pub use client::pipeline::{DEFAULT_BUDGET, Listing, MAX_IN_FLIGHT};
pub use client::{
    DEFAULT_WINDOW, Fetch, Fetched, Limits, Pop3Client, Pop3Error, Resume, Stats, Timeouts, connect,
};
pub use codec::{Capabilities, CodecError, Reply, RespCode, Status};
