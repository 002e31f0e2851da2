//! Dovecot's own configuration, read on the product side (not the harness's writer
//! under `dovecot/`): [`dovecot_conf`] reads a file in 2.3's or 2.4's syntax as `verify
//! --dovecot-conf` and the fuzz harness take it.

pub mod dovecot_conf;
