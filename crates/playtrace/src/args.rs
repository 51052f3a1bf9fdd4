//! Argument types shared by the commands, so one flag means one thing everywhere: durations
//! and sizes (core's [`Millis`] and [`Bytes`], SPEC §7, parsed by their one parser), `--format`,
//! the reading limits of commands that read logs, the budgets file, the async runtime.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use playtrace_core::budget::{BudgetSet, Metric};
use playtrace_core::dims::Dimensions;
use playtrace_core::report::Gate;
use playtrace_core::summary::GroupDim;
use playtrace_core::units::{Bytes, Millis};
use playtrace_read::{ReadLimits, ReadOptions};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

/// `--format` of commands that print a report for people or for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A report for a terminal.
    Text,
    /// The summary object (the old monitor's shape plus PlayTrace's additions).
    Json,
    /// A report for a pull request or CI job summary.
    Markdown,
}

/// `--format` of commands whose result is a line or a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line for people.
    Text,
    /// The full result as JSON.
    Json,
}

/// A duration flag that must be more than zero (budget thresholds). Other duration flags are
/// plain [`Millis`] (clap parses them with `Millis::from_str`).
pub fn positive_millis(text: &str) -> Result<Millis, String> {
    match text.parse::<Millis>() {
        Ok(ms) if ms > Millis::ZERO => Ok(ms),
        Ok(_) => Err("the threshold must be more than 0 ms".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A size flag (`16MiB`, `1GB`, bytes when bare) that must be more than zero.
pub fn positive_bytes(text: &str) -> Result<Bytes, String> {
    match text.parse::<Bytes>() {
        Ok(b) if b.as_u64() == 0 => Err("the size must be more than 0".to_string()),
        Ok(b) => Ok(b),
        Err(e) => Err(e.to_string()),
    }
}

/// How commands that read telemetry logs read them (`monitor`, `export`).
/// How a command that talks to a running collector reaches it: the same flags, environment
/// variables and defaults in `alerts` and `rejects` (global, so they may follow the verb).
#[derive(Debug, Args)]
pub struct CollectorArgs {
    /// Collector URL.
    #[arg(
        long,
        global = true,
        env = "PLAYTRACE_URL",
        default_value = "http://127.0.0.1:7070"
    )]
    pub url: String,

    /// Token with the read scope.
    #[arg(
        long,
        global = true,
        env = "PLAYTRACE_READ_TOKEN",
        hide_env_values = true
    )]
    pub read_token: Option<String>,

    /// Token with the admin scope (the verbs that change something: ack, resolve, silence,
    /// unsilence, replay).
    #[arg(
        long,
        global = true,
        env = "PLAYTRACE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Longest line read; longer lines become `size` rejects.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = positive_bytes)]
    pub max_line_bytes: Bytes,

    /// Largest multi-line JSON document (timeline, summary) read whole.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = positive_bytes)]
    pub max_document_bytes: Bytes,

    /// Scanning threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
}

impl ReadArgs {
    /// The reading engine's options.
    pub fn options(&self) -> ReadOptions {
        let defaults = ReadOptions::default();
        ReadOptions {
            limits: ReadLimits {
                max_line: self.max_line_bytes.as_usize(),
                max_document: self.max_document_bytes.as_usize(),
            },
            workers: self.threads.map_or(defaults.workers, NonZeroUsize::get),
        }
    }
}

/// What a report is judged against, the same for `monitor` and `export` so both say the same
/// about the same logs: the budgets (file and threshold flags), the groups, and the gate's
/// demands on data.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// Arming p95 budget in ms (or a duration like 8s); default 8000.
    #[arg(long, value_name = "MS", value_parser = positive_millis)]
    pub arming_threshold: Option<Millis>,

    /// Resolution p95 budget in ms (or a duration like 800ms); default 800.
    #[arg(long, value_name = "MS", value_parser = positive_millis)]
    pub resolution_threshold: Option<Millis>,

    /// TOML file of [[budget]] entries replacing the default budgets.
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,

    /// Also check every budget per hub, room, move or type (or, in `monitor`, a --dimension;
    /// comma-separate for combinations, e.g. hub,room or build,platform). A breach in any group
    /// fails the run.
    #[arg(long, value_name = "DIM", value_delimiter = ',')]
    pub group_by: Vec<String>,

    /// Pass a run with too little data to judge (outcome `no_data`: an overall budget with
    /// fewer samples than its min_samples, or fewer contests than --min-contests).
    #[arg(long)]
    pub allow_no_data: bool,

    /// Fewer contests than N is `no_data` (fails the run unless --allow-no-data).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_contests: u64,
}

impl BudgetArgs {
    /// The budgets to check: the budgets file or the defaults, with the threshold flags applied.
    pub fn budget_set(&self) -> Result<BudgetSet> {
        self.with_thresholds(load_budgets(self.budgets.as_deref())?)
    }

    /// `budgets` (from elsewhere, e.g. a collector's config) with the threshold flags applied.
    pub fn with_thresholds(&self, mut budgets: BudgetSet) -> Result<BudgetSet> {
        if let Some(ms) = self.arming_threshold {
            budgets.set_p95_limit(Metric::Arming, ms.as_ms_f64());
        }
        if let Some(ms) = self.resolution_threshold {
            budgets.set_p95_limit(Metric::Resolution, ms.as_ms_f64());
        }
        Ok(budgets)
    }

    /// The `--group-by` dimensions over the built-in ones (in any case: `room`, `ROOM`) and
    /// `dims` (declared with `--dimension`), each once, in the order given.
    pub fn group_by(&self, dims: &Dimensions) -> Result<Vec<GroupDim>> {
        let mut group_by = Vec::new();
        for text in &self.group_by {
            let Some(dim) = dims
                .parse(text)
                .or_else(|| dims.parse(&text.to_ascii_lowercase()))
            else {
                let declared: String = dims
                    .list()
                    .iter()
                    .map(|d| format!(", {}", d.name))
                    .collect();
                anyhow::bail!(
                    "--group-by: `{text}` is not a dimension; use hub, room, move or type{declared} \
                     (in monitor, declare an attribute with --dimension NAME=ATTR)"
                );
            };
            if !group_by.contains(&dim) {
                group_by.push(dim);
            }
        }
        Ok(group_by)
    }

    /// The gate's demands beyond the budgets.
    pub fn gate(&self) -> Gate {
        Gate {
            min_contests: self.min_contests,
            allow_no_data: self.allow_no_data,
        }
    }
}

/// The budgets file (`--budgets`), or the default budgets without one.
pub fn load_budgets(path: Option<&Path>) -> Result<BudgetSet> {
    let Some(path) = path else {
        return Ok(BudgetSet::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the budgets file `{}`", path.display()))?;
    BudgetSet::from_toml(&text)
        .with_context(|| format!("invalid budgets file `{}`", path.display()))
}

/// The tokio runtime of a command that needs one (`serve`, `demo`, `export`).
pub fn runtime(thread_name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()
        .context("cannot start the async runtime")
}
