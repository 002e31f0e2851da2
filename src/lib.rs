//! uidlmap: predict, check and explain how Dovecot's pop3-migration plugin carries
//! POP3 UIDLs over when a mailbox is migrated from an old provider.
//!
//! Modules:
//! - [`matcher`]: PURE. Dovecot 2.3.19's matching (header hash, cached-UIDL, size and
//!   header passes, outcomes in Dovecot's wording) and the audit beside it.
//! - [`pop3`]: a pure POP3 codec and an async POP3 client over any stream.
//! - [`imap`]: a pure IMAP codec and an async IMAP client over any stream.
//! - [`tls`]: plain, implicit TLS and STLS/STARTTLS connections; trust roots.
//! - [`migrate`]: reads a source in Dovecot's order (scenarios) or as fast as it allows
//!   (verify), and hands the matcher its inputs.
//! - [`report`]: renderings: YAML/JSON report, human summary, TSV, dovecot-uidlist.
//! - [`dovecot`]: real Dovecot run by hand: a source server for client tests, and
//!   `doveadm backup` with the pop3_migration plugin as the oracle.
//! - [`scenario`]: YAML scenario files: parse, validate with file:line:column errors,
//!   build, run end to end against the fake servers.
//! - [`secret`]: passwords that never print.
//! - [`conformance`]: every scenario against real Dovecot, compared with the prediction.

pub mod conformance;
pub mod domain;
pub mod dovecot;
pub mod imap;
pub mod matcher;
pub mod migrate;
pub mod pop3;
pub mod predict;
pub mod report;
pub mod retry;
pub mod scenario;
pub mod secret;
pub mod tls;
