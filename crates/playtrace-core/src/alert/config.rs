//! The `[alerts]` block of the collector's config: default rules on or off, own rules, the
//! offline SLA and how budget breaches become alerts, with their defaults written once here.

use crate::alert::kinds::Severity;
use crate::alert::rules::{default_rules, Rule, RuleError, RuleSet, RuleSpec};
use crate::units::{Millis, Written};
use serde::Deserialize;

/// The `[alerts]` block of the collector's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// Ship the default rules (SPEC §4).
    #[serde(default = "yes")]
    pub default_rules: bool,
    /// How long an offline session closure may take before it is late (default 10m).
    pub offline_sla: Option<Written>,
    /// Rules of this deployment, evaluated after the defaults; names must be unique.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Alert on breached budgets (default true).
    #[serde(default = "yes")]
    pub budget_alerts: bool,
    /// A budget must stay breached this long before its alert fires (default 1m).
    pub budget_for: Option<Written>,
    /// A firing budget alert resolves only after the budget held this long (default 5m).
    pub budget_keep_firing_for: Option<Written>,
    /// Budget alerts per group of these dimensions as well (`hub`, `room`, `move`, `type`).
    #[serde(default)]
    pub budget_group_by: Vec<String>,
    /// Severity of budget alerts (default high).
    pub budget_severity: Option<Severity>,
    /// A firing moderation alert not raised again for this long resolves itself (default 1h),
    /// so the firing count is what still needs a moderator.
    pub resolve_after: Option<Written>,
}

impl Default for AlertsSpec {
    fn default() -> Self {
        AlertsSpec {
            default_rules: true,
            offline_sla: None,
            rules: Vec::new(),
            budget_alerts: true,
            budget_for: None,
            budget_keep_firing_for: None,
            budget_group_by: Vec::new(),
            budget_severity: None,
            resolve_after: None,
        }
    }
}

/// How budget breaches become alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlerting {
    /// Off when false.
    pub enabled: bool,
    /// Breached this long → fires (ms).
    pub for_ms: f64,
    /// Within budget this long → resolves (ms).
    pub keep_firing_for_ms: f64,
    /// Also per group of these dimensions.
    pub group_by: Vec<crate::summary::GroupDim>,
    /// Severity of budget alerts (default high).
    pub severity: Severity,
}

impl AlertsSpec {
    /// The budget alerting settings, validated (`budget_group_by` over hub, room, move, type).
    pub fn budget_alerting(&self) -> Result<BudgetAlerting, RuleError> {
        self.budget_alerting_with(&crate::dims::Dimensions::default())
    }

    /// The budget alerting settings, validated, `budget_group_by` also over `dims`.
    pub fn budget_alerting_with(
        &self,
        dims: &crate::dims::Dimensions,
    ) -> Result<BudgetAlerting, RuleError> {
        let duration = |key: &str, v: &Option<Written>, default: f64| -> Result<f64, RuleError> {
            match v {
                None => Ok(default),
                Some(w) => w.millis().map(Millis::as_ms_f64).map_err(|e| RuleError {
                    rule: format!("alerts.{key}"),
                    message: e.to_string(),
                }),
            }
        };
        let group_by = self
            .budget_group_by
            .iter()
            .map(|d| {
                dims.parse(d).ok_or_else(|| RuleError {
                    rule: "alerts.budget_group_by".into(),
                    message: format!("`{d}` is not a dimension; use one of {}", dims.known()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BudgetAlerting {
            enabled: self.budget_alerts,
            for_ms: duration(
                "budget_for",
                &self.budget_for,
                DEFAULT_BUDGET_FOR.as_ms_f64(),
            )?,
            keep_firing_for_ms: duration(
                "budget_keep_firing_for",
                &self.budget_keep_firing_for,
                DEFAULT_BUDGET_KEEP_FIRING_FOR.as_ms_f64(),
            )?,
            group_by,
            severity: self.budget_severity.unwrap_or(Severity::High),
        })
    }
}

impl AlertsSpec {
    /// `resolve_after`, validated (ms).
    pub fn resolve_after(&self) -> Result<Millis, RuleError> {
        match &self.resolve_after {
            None => Ok(DEFAULT_RESOLVE_AFTER),
            Some(w) => w.millis().map_err(|e| RuleError {
                rule: "alerts.resolve_after".into(),
                message: e.to_string(),
            }),
        }
    }
}

/// How long a firing moderation alert stays firing without being raised again, unless
/// `resolve_after` says.
pub const DEFAULT_RESOLVE_AFTER: Millis = Millis::from_secs_saturating(3600);
/// How long a budget must stay breached before its alert fires, unless `budget_for` says.
pub const DEFAULT_BUDGET_FOR: Millis = Millis::from_secs_saturating(60);
/// How long a budget must hold before its firing alert resolves, unless
/// `budget_keep_firing_for` says.
pub const DEFAULT_BUDGET_KEEP_FIRING_FOR: Millis = Millis::from_secs_saturating(300);
/// How long an offline session closure may take before it is late, unless `offline_sla` says.
pub const DEFAULT_OFFLINE_SLA: Millis = Millis::from_secs_saturating(600);

fn yes() -> bool {
    true
}

impl RuleSet {
    /// Builds the rules: the defaults (unless turned off), then the config's own.
    pub fn from_spec(spec: AlertsSpec) -> Result<RuleSet, RuleError> {
        let sla = match &spec.offline_sla {
            None => DEFAULT_OFFLINE_SLA.as_ms_f64(),
            Some(w) => w
                .millis()
                .map_err(|e| RuleError {
                    rule: "alerts.offline_sla".into(),
                    message: e.to_string(),
                })?
                .as_ms_f64(),
        };
        let mut rules = Vec::new();
        if spec.default_rules {
            for s in default_rules(sla) {
                rules.push(Rule::new(s)?);
            }
        }
        let mut names: Vec<String> = rules.iter().map(|r| r.spec().name.clone()).collect();
        for s in spec.rules {
            if names.contains(&s.name) {
                return Err(RuleError {
                    rule: s.name,
                    message: "another rule has this name; names make fingerprints, so they must \
                              be unique"
                        .into(),
                });
            }
            names.push(s.name.clone());
            rules.push(Rule::new(s)?);
        }
        Ok(RuleSet::new(rules))
    }
}
