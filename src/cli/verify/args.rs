//! `uidlmap verify`'s command line: the clap arguments and the long help.

use std::path::PathBuf;

use uidlmap::domain::{Destination, DovecotVersion, ImapcProfile};
use uidlmap::report::Rows;

/// The long `--help` text of `uidlmap verify`.
pub const LONG_ABOUT: &str = "\
Check a live provider before the migration: log in to its IMAP and POP3 services, read \
every listing, size and header (both servers at once, deeply pipelined), and predict UIDL \
by UIDL what the pop3-migration plugin of Dovecot 2.3 or 2.4 (--dovecot-version) would store. Unless --no-audit, every \
header is compared by content to say where Dovecot's answer would be wrong and which \
settings fix it. Nothing on the servers is changed (EXAMINE, BODY.PEEK, TOP and RETR only).

Passwords come from --password-file, from UIDLMAP_IMAP_PASSWORD / UIDLMAP_POP3_PASSWORD \
or UIDLMAP_PASSWORD, from imapc_password / pop3c_password in --dovecot-conf, or from a \
prompt on the terminal; never from the command line. TLS certificates are verified \
against the system's roots (plus --ca-file) unless --insecure.";

/// What `verify` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A summary for people: passes, Dovecot's log, the audit and the recommendation.
    Human,
    /// The full report as JSON.
    Json,
    /// The full report as YAML.
    Yaml,
    /// What Dovecot would store: `mailbox uid pop3_uidl pop3_order`, as `uidlmap run`.
    Tsv,
    /// The `P`/`O` fields Dovecot would write into each maildir's dovecot-uidlist.
    DovecotUidlist,
    /// One self-contained HTML page: the listings side by side, a line per pairing.
    Html,
}

/// How to reach and read the provider: the URLs, passwords, TLS, timeouts and retries
/// that `verify` and `record` take alike (one definition, so they cannot drift).
#[derive(clap::Args, Clone, Debug)]
pub struct ConnectArgs {
    /// The old provider's IMAP service: imap://USER@HOST[:PORT] or imaps://…
    #[arg(long, value_name = "URL")]
    pub imap: Option<String>,

    /// The old provider's POP3 service: pop3://USER@HOST[:PORT] or pop3s://…
    #[arg(long, value_name = "URL")]
    pub pop3: Option<String>,

    /// Use STARTTLS (IMAP) and STLS (POP3) on imap:// and pop3:// URLs
    #[arg(long)]
    pub starttls: bool,

    /// A file whose first line is the password (for both servers)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// More trusted CA certificates (PEM); may be repeated
    #[arg(long, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,

    /// Accept any TLS certificate (DANGEROUS: anyone on the path can read the password)
    #[arg(long)]
    pub insecure: bool,

    /// A Dovecot configuration snippet to take the pop3_migration_* plugin settings and
    /// the imapc_*/pop3c_* host, port, user, password and SSL settings from
    #[arg(long, value_name = "FILE")]
    pub dovecot_conf: Option<PathBuf>,

    /// Run `doveconf -n -P` here and read its output as --dovecot-conf
    #[arg(long, conflicts_with = "dovecot_conf")]
    pub doveconf: bool,

    /// Seconds to wait for a connection (1 to 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connect_timeout: u64,

    /// Seconds to wait for each reply (1 to 86400): the server's silence allowed, and
    /// also the most any one command (reply included) may take
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: u64,

    /// Whole reads tried again after [IN-USE], [LOGIN-DELAY] or a dropped connection
    /// (0 to 10); each retry is reported on standard error
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,

    /// Milliseconds before the first retry (0 to 60000); doubled on each further one,
    /// never more than 60 s
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub retry_delay_ms: u64,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,

    /// Write the output to FILE (atomically) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// A plugin setting, by Dovecot's name with or without `pop3_migration_`
    /// (e.g. skip_size_check=yes); may be repeated; overrides --dovecot-conf
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// The Dovecot version to predict [default: the syntax of --dovecot-conf, else the
    /// installed doveadm's version, else 2.4]
    #[arg(long, value_enum, value_name = "VERSION")]
    pub dovecot_version: Option<DovecotVersion>,

    /// The imapc configuration: docs (the recipe: RFC822.SIZE, mail_prefetch_count 20),
    /// bare (sizes by download, one UID a command: 2.3's defaults, 2.4's no-fetch-size)
    /// or defaults (the version's own: 2.3's are bare, 2.4's RFC822.SIZE one UID a
    /// command) [default: as imapc_features and mail_prefetch_count in --dovecot-conf
    /// read under the version; else docs under 2.3, defaults under 2.4]
    #[arg(long, value_enum)]
    pub imapc_profile: Option<ImapcProfile>,

    /// The destination's mail storage, which decides what is kept of each UIDL
    /// [default: as mail_location or mail_driver in --dovecot-conf, else maildir]
    #[arg(long, value_enum)]
    pub destination: Option<Destination>,

    /// Read only what Dovecot reads; skip the audit of every header
    #[arg(long)]
    pub no_audit: bool,

    /// imapc's UIDL cache from an earlier run, as `--format tsv` writes it
    /// (`mailbox uid pop3_uidl pop3_order`): Dovecot's cached-UIDL pass uses it first
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,

    /// Verify many accounts: one `IMAP_URL POP3_URL [PASSWORD_FILE]` per line (`#`
    /// comments); results as JSON Lines, one object per account
    #[arg(long, value_name = "FILE", conflicts_with_all = ["imap", "pop3"])]
    pub accounts: Option<PathBuf>,

    /// Accounts verified at once (with --accounts)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// IMAP connections the folders are spread over (1 to 8): faster for many folders
    /// far away, but providers limit sessions per account
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=8))]
    pub connections: u8,

    /// Skip accounts already in --output (with --accounts)
    #[arg(long)]
    pub resume: bool,

    /// Take only the accounts whose index is I modulo N (with --accounts)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,

    /// Message rows in --format human: auto (every row up to 50 messages a mailbox,
    /// beyond that only those not right), all, or problems
    #[arg(long, value_enum, default_value = "auto")]
    pub rows: Rows,
}
