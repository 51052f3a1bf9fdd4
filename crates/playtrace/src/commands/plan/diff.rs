//! `playtrace plan diff`: what a plan change breaks, for a CI check on pull requests.

use super::{load_plan, DiffArgs, Format};
use crate::output::{write_stdout, ExitStatus};
use anyhow::Result;
use playtrace_plan::{diff, ChangeKind};
use serde_json::json;
use std::fmt::Write as _;

pub(crate) fn run(args: DiffArgs) -> Result<ExitStatus> {
    let old = load_plan(&args.old)?;
    let new = load_plan(&args.new)?;
    let changes = diff(&old, &new);
    let breaking = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Breaking)
        .count();
    let text = match args.format {
        Format::Json => {
            let list: Vec<_> = changes
                .iter()
                .map(|c| json!({"kind": c.kind.as_str(), "event": c.event, "field": c.field, "change": c.what}))
                .collect();
            serde_json::to_string_pretty(&json!({
                "ok": breaking == 0,
                "breaking": breaking,
                "compatible": changes.len() - breaking,
                "changes": list,
            }))? + "\n"
        }
        Format::Text => {
            let mut out = String::new();
            if changes.is_empty() {
                out.push_str("plan diff: no changes\n");
            } else {
                let _ = writeln!(
                    out,
                    "plan diff: {breaking} breaking, {} compatible",
                    changes.len() - breaking
                );
                for c in &changes {
                    let field = c
                        .field
                        .as_deref()
                        .map(|f| format!(" `{f}`"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {:<10}  {}{field}: {}",
                        c.kind.as_str(),
                        c.event,
                        c.what
                    );
                }
            }
            out
        }
    };
    write_stdout(text.as_bytes())?;
    Ok(if breaking == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::CheckFailed
    })
}
