//! THE prediction pipeline: from what a reader got off the source
//! ([`Migration`]: listing, Dovecot's reads, every read for the audit) and the
//! plugin's settings, it plans once, resolves Dovecot's outcome, audits it when every
//! header was read, and renders the [`Report`]. `verify`, the scenario runner (and so
//! conformance), the tests and the benches all predict through here; nothing else
//! calls the matcher's passes.
//!
//! A [`Prediction`] borrows the [`Migration`] it was made from (the plan and the
//! outcome point into its listing), so it lives no longer than the reads it explains.

use crate::domain::{Destination, DovecotVersion};
use crate::matcher::audit::{self, Audit, Truth};
use crate::matcher::{self, Outcome, Plan, Reads, ResolveError, Settings};
use crate::migrate::Migration;
use crate::report::{self, Report};

/// What the pipeline is told besides the reads.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The settings as the admin spelled them ([`Settings::spellings`]): each version
    /// reads the spellings its own way.
    pub settings: &'a Settings,
    /// The Dovecot predicted. The plugin's passes are the same in 2.3 and 2.4; the
    /// version decides how the settings' spellings are read (2.4 refuses some: exit 89,
    /// nothing read) and how the log is worded.
    pub version: DovecotVersion,
    /// What the audit judges against, where the caller knows it (a scenario); else
    /// the audit infers it from content.
    pub truth: Option<&'a Truth>,
    /// (mailbox, UID) of IMAP messages gone before dsync downloads them.
    pub vanished: &'a [(String, u32)],
    /// The destination's mail storage: what it keeps of each UIDL.
    pub destination: Destination,
}

impl<'a> Inputs<'a> {
    /// Dovecot 2.3 with `settings`, nothing known beyond the reads (set
    /// [`Inputs::version`] for another).
    pub fn new(settings: &'a Settings) -> Self {
        Inputs {
            settings,
            version: DovecotVersion::default(),
            truth: None,
            vanished: &[],
            destination: Destination::default(),
        }
    }
}

/// Dovecot's answer on one source, and how right it would be.
#[derive(Debug)]
pub struct Prediction<'m> {
    migration: &'m Migration,
    destination: Destination,
    /// What the listings settle before any header is read.
    pub plan: Plan<'m>,
    /// What Dovecot does: log, per-message UIDLs, doveadm's result.
    pub outcome: Outcome<'m>,
    /// Present when every header was read ([`Migration::all`]) and the configuration
    /// is accepted.
    pub audit: Option<Audit>,
    pub version: DovecotVersion,
    /// The spellings this version reads otherwise than they read.
    pub misreadings: Vec<String>,
}

/// Plans, resolves and (when `m.all` is there) audits.
pub fn predict<'m>(m: &'m Migration, inputs: &Inputs<'_>) -> Result<Prediction<'m>, ResolveError> {
    predict_with(m, &m.reads, m.all.as_ref(), inputs)
}

/// [`predict`] with the reads held apart from `m` (taken out by
/// [`Migration::take_reads`]), so that a caller can free them before the report is
/// built: `verify` of 100,000 messages would otherwise hold every read, the outcome,
/// the audit and the report at once.
pub fn predict_with<'m>(
    m: &'m Migration,
    reads: &Reads,
    all: Option<&Reads>,
    inputs: &Inputs<'_>,
) -> Result<Prediction<'m>, ResolveError> {
    let misreadings = inputs.settings.misreadings(inputs.version);
    let settings = match inputs.settings.for_version(inputs.version) {
        Ok(s) => s,
        Err(e) => {
            // doveconf stops before doveadm connects anywhere: nothing to resolve.
            return Ok(Prediction {
                migration: m,
                destination: inputs.destination,
                plan: matcher::plan(&m.listing, inputs.settings),
                outcome: Outcome::config_error(inputs.settings.clone(), &e),
                audit: None,
                version: inputs.version,
                misreadings,
            });
        }
    };
    let plan = matcher::plan(&m.listing, &settings);
    let mut outcome = matcher::resolve(&plan, reads)?;
    outcome.apply_vanished(inputs.vanished);
    crate::migrate::apply_imap_faults(&mut outcome, m, inputs.version);
    let audit = match all {
        Some(all) => Some(audit::audit_to(
            inputs.destination,
            &m.listing,
            &outcome,
            all,
            inputs.truth,
            inputs.vanished,
        )?),
        None => None,
    };
    // The audit reads 2.3's words (it only counts); the report shows the version's.
    outcome.reword_for(inputs.version);
    Ok(Prediction {
        migration: m,
        destination: inputs.destination,
        plan,
        outcome,
        audit,
        version: inputs.version,
        misreadings,
    })
}

impl Prediction<'_> {
    /// The report of this prediction, with the reader's traffic. `imapc` names the
    /// imapc configuration read under ([`crate::domain::Imapc::name`]); `ids` names a
    /// message (a scenario's message ids) where the caller can.
    pub fn report(
        &self,
        name: &str,
        description: Option<&str>,
        imapc: &str,
        ids: &dyn Fn(&str, u32) -> Option<String>,
    ) -> Report {
        let mut r = self.report_of_outcome(name, description, imapc, ids);
        match self.refused() {
            Some(settings) => r.mark_refused(&settings),
            None => {
                r.pop3 = Some(report::pop3_entries(&self.migration.listing));
                r.traffic = Some(self.migration.traffic.clone());
            }
        }
        r
    }

    /// [`Prediction::report`], freeing the plan, the outcome and the audit before the
    /// POP3 listing is copied into the report: the same report in less memory at the
    /// peak (`verify` of 100,000 messages).
    pub fn into_report(
        self,
        name: &str,
        description: Option<&str>,
        imapc: &str,
        ids: &dyn Fn(&str, u32) -> Option<String>,
    ) -> Report {
        let mut r = self.report_of_outcome(name, description, imapc, ids);
        let refused = self.refused();
        let m = self.migration;
        drop(self);
        match refused {
            Some(settings) => r.mark_refused(&settings),
            None => {
                r.pop3 = Some(report::pop3_entries(&m.listing));
                r.traffic = Some(m.traffic.clone());
            }
        }
        r
    }

    /// The report without the POP3 listing and the traffic.
    fn report_of_outcome(
        &self,
        name: &str,
        description: Option<&str>,
        imapc: &str,
        ids: &dyn Fn(&str, u32) -> Option<String>,
    ) -> Report {
        let mut r = report::build(
            report::Heading {
                name,
                description,
                imapc,
                destination: self.destination,
                version: self.version,
            },
            &self.outcome,
            self.audit.as_ref(),
            ids,
        );
        // Named as the destination stores them (the matcher and the audit keep the
        // source's names, which the reads and the ground truth are keyed by).
        for mb in &mut r.dovecot.mailboxes {
            mb.name = self
                .destination
                .stored_name(&mb.name, self.migration.separator);
        }
        r.setting_spellings = self.misreadings.clone();
        r
    }

    /// The settings a refused configuration was refused with (a refused report holds
    /// no listing and no traffic: nothing is read).
    fn refused(&self) -> Option<Settings> {
        matches!(
            self.outcome.result,
            matcher::DoveadmResult::ConfigError { .. }
        )
        .then(|| self.outcome.settings.clone())
    }
}
