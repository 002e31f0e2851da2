//! uidlmap: predict, check and explain how Dovecot's pop3-migration plugin carries
//! POP3 UIDLs over when a mailbox is migrated from an old provider.
//!
//! Data flows one way: a source (a live provider, or a scenario served by the fake
//! servers) is read by [`migrate`], [`predict`] turns what was read into Dovecot's
//! answer and its audit, [`report`] renders it. `ARCHITECTURE.md` says where each rule
//! of the spec lives.
//!
//! The product:
//! - [`domain`]: types every layer shares: endpoints, the imapc profile, the Dovecot
//!   version.
//! - [`matcher`]: PURE. Dovecot 2.3.19's matching (header hash, cached-UIDL, size and
//!   header passes, what dsync does around them, outcomes in Dovecot's wording) and the
//!   audit beside it; the plan says which headers Dovecot reads.
//! - [`pop3`], [`imap`]: pure codecs and async clients over any stream; [`tls`]: plain,
//!   implicit TLS and STLS/STARTTLS connections, trust roots; [`secret`]: passwords that
//!   never print; [`retry`]: the one retry policy; [`input`]: the one bounded reader of
//!   files and standard input.
//! - [`migrate`]: reads a source in Dovecot's order (scenarios) or as fast as it allows
//!   (verify), asking the matcher which headers Dovecot would read.
//! - [`predict`]: THE pipeline: plan once, resolve, audit, report.
//! - [`report`]: renderings: YAML/JSON report, human summary, TSV (and its reader),
//!   dovecot-uidlist.
//! - [`scenario`]: YAML scenario files: parse, validate with file:line:column errors,
//!   build, run end to end against the fake servers (the `uidlmap-fake-servers` crate).
//!
//! The harness (never imported by the product):
//! - [`dovecot`]: real Dovecot run by hand: a source server for client tests, and
//!   `doveadm backup` with the pop3_migration plugin as the oracle.
//! - [`conformance`]: every scenario against real Dovecot, compared with the prediction.
//! - [`hunt`]: random worlds against real Dovecot, each disagreement shrunk.

pub mod config;
pub mod conformance;
pub mod domain;
pub mod dovecot;
pub mod hunt;
pub mod imap;
pub mod input;
pub mod matcher;
pub mod migrate;
pub mod pop3;
pub mod predict;
pub mod report;
pub mod retry;
pub mod scenario;
pub mod secret;
pub mod tls;
