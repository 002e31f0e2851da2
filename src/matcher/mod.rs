//! Dovecot's pop3-migration matching, as pure functions (no tokio, no clock, no fs).
//!
//! - [`settings`]: the `pop3_migration_*` settings under Dovecot's names.

pub mod settings;

pub use settings::Settings;
