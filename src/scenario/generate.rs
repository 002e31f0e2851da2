//! Message generation and UIDL templates for scenario files. The code lives in the fake
//! servers' crate ([`fake_servers::generate`]), so worlds built in code there render the
//! same bytes as scenario files; this module re-exports it for existing callers.

pub use fake_servers::generate::*;
