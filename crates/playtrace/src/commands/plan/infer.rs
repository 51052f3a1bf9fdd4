//! `playtrace plan infer`: a draft plan from existing telemetry, one schema file per event name.

use super::events::{read_events, Visit};
use super::{input_names, load_plan, InferArgs};
use crate::output::ExitStatus;
use anyhow::{bail, Context, Result};
use playtrace_plan::Inferrer;
use serde_json::Value;

struct Drafter;

impl Visit for Drafter {
    type Out = Inferrer;
    fn event(&self, out: &mut Inferrer, _line: u32, name: &str, attrs: &Value) {
        if let Value::Object(attrs) = attrs {
            out.add(name, attrs);
        }
    }
}

pub(crate) fn run(args: InferArgs) -> Result<ExitStatus> {
    let names = input_names(&args.files, "infer")?;
    let mut all = Inferrer::default();
    read_events(
        &names,
        &args.read,
        args.quiet,
        &Drafter,
        &mut |_, _, block| all.merge(block),
    )?;
    if all.is_empty() {
        bail!(
            "no events in {}: nothing to draft a plan from",
            names.join(", ")
        );
    }
    let dir = &args.output;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plan directory `{}`", dir.display()))?;
    let (drafts, skipped) = all.drafts();
    if !args.force {
        if let Some((file, _)) = drafts.iter().find(|(f, _)| dir.join(f).exists()) {
            bail!(
                "`{}` already exists; draft into an empty directory, or pass --force to overwrite",
                dir.join(file).display()
            );
        }
    }
    for (file, schema) in &drafts {
        let path = dir.join(file);
        let text = serde_json::to_string_pretty(schema)? + "\n";
        playtrace_export::atomic::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    // What was written must load: a draft that does not compile is a bug, not a review item.
    load_plan(dir)?;
    if !args.quiet {
        eprintln!(
            "drafted {} schema(s) in `{}` from {}; review them before enforcing",
            drafts.len(),
            dir.display(),
            names.join(", ")
        );
        for name in skipped {
            eprintln!("warning: `{name}` cannot be a file name; write its schema by hand (a pattern file may cover it)");
        }
    }
    Ok(ExitStatus::Success)
}
