//! Dovecot's pop3-migration matching, as pure functions.
