//! The budget report: the monitor's JSON summary, the per-contest durations as CSV, one SVG
//! chart per budgeted metric (arming, resolution) with its budget line and percentile marker,
//! and a Markdown report embedding them.

use super::{artifact, json_error, ArtifactError, Source};
use crate::Artifact;
use playtrace_core::budget::Metric;
use playtrace_core::num::Num;
use playtrace_core::report::{render_markdown, svg::latency_chart, InputStats};
use playtrace_core::summary::Raw;
use playtrace_sdk::transcript::csv_field;
use serde_json::json;

/// The report's artifacts, in the order the manifest lists them.
pub(super) fn artifacts(prefix: &str, source: &Source<'_>) -> Result<Vec<Artifact>, ArtifactError> {
    let summary = source.summary;
    let mut out = Vec::new();
    let mut json_summary = serde_json::to_value(summary).map_err(json_error("budget report"))?;
    if let Some(o) = json_summary.as_object_mut() {
        // The per-contest records go to the CSV; the JSON stays the monitor's summary, with
        // the monitor's verdict.
        o.remove("raw");
        o.insert(
            "outcome".into(),
            json!(source.gate.outcome(summary).as_str()),
        );
    }
    out.push(artifact(
        format!("{prefix}-budget-report.json"),
        "application/json",
        "report",
        serde_json::to_vec_pretty(&json_summary).map_err(json_error("budget report"))?,
    ));
    let Some(raw) = &summary.raw else {
        return Ok(out);
    };
    out.push(artifact(
        format!("{prefix}-contest-durations.csv"),
        "text/csv",
        "report",
        durations_csv(raw).into_bytes(),
    ));
    // One chart per metric with a budget, drawn against that budget's verdict.
    let mut charts = Vec::new();
    for b in &summary.budgets {
        let (title, stem): (&str, &str) = match b.metric {
            Metric::Arming => ("Arming latency", "arming"),
            Metric::Resolution => ("Resolution latency", "resolution"),
            // Timeouts have no per-contest durations in `raw`.
            Metric::ExpiredArming => continue,
        };
        let name = format!("{prefix}-{stem}-latency.svg");
        if charts.iter().any(|(n, _, _)| *n == name) {
            continue; // a second budget on the same metric: the first one's chart
        }
        let samples: Vec<f64> = raw
            .contests
            .iter()
            .filter_map(|c| match b.metric {
                Metric::Arming => c.arming_duration_ms,
                _ => c.resolution_duration_ms,
            })
            .map(|n| n.0)
            .collect();
        out.push(artifact(
            name.clone(),
            "image/svg+xml",
            "report",
            latency_chart(title, &samples, b).into_bytes(),
        ));
        charts.push((name, title, b.status));
    }
    let stats = InputStats {
        inputs: source.read.inputs,
        lines: source.read.lines,
        events: source.read.events,
    };
    let mut md = render_markdown(summary, &stats, &source.gate);
    for (name, title, status) in &charts {
        md.push_str(&format!(
            "\n![{title} distribution: {}]({name})\n",
            status.as_str()
        ));
    }
    out.push(artifact(
        format!("{prefix}-budget-report.md"),
        "text/markdown",
        "report",
        md.into_bytes(),
    ));
    Ok(out)
}

/// The per-contest durations as CSV (RFC 4180 quoting; absent values are empty fields).
pub fn durations_csv(raw: &Raw) -> String {
    let mut out = String::from(
        "contest_id,hub_id,room_id,arming_duration_ms,resolution_duration_ms,participant_count,participant_capacity,resolved,outcomes\n",
    );
    let num = |v: Option<Num>| v.map_or(String::new(), |n| json!(n).to_string());
    for c in &raw.contests {
        let row = [
            csv_field(&c.contest_id),
            csv_field(c.hub_id.as_deref().unwrap_or("")),
            csv_field(c.room_id.as_deref().unwrap_or("")),
            num(c.arming_duration_ms),
            num(c.resolution_duration_ms),
            c.participant_count.map_or(String::new(), |n| n.to_string()),
            c.participant_capacity
                .map_or(String::new(), |n| n.to_string()),
            c.resolved.to_string(),
            csv_field(&c.outcomes.join(";")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::summary::RawContest;

    #[test]
    fn the_durations_csv_quotes_what_needs_it_and_leaves_nulls_empty() {
        let contest =
            |id: &str, hub: Option<&str>, arming: Option<f64>, outcomes: &[&str]| RawContest {
                contest_id: id.into(),
                hub_id: hub.map(Into::into),
                room_id: None,
                arming_duration_ms: arming.map(Num),
                resolution_duration_ms: Some(Num(420.5)),
                participant_count: None,
                participant_capacity: Some(2),
                outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
                resolved: true,
            };
        let raw = Raw {
            contests: vec![
                contest("plain", Some("hub-a"), Some(240.0), &["win"]),
                contest("a,b \"c\"", Some("h|ü ✓"), None, &[]),
                contest("line\r\nbreak", None, Some(0.0), &["x", "y,z"]),
            ],
            workflow_failures: vec![],
            expired: None,
        };
        assert_eq!(
            durations_csv(&raw),
            "contest_id,hub_id,room_id,arming_duration_ms,resolution_duration_ms,participant_count,participant_capacity,resolved,outcomes\n\
             plain,hub-a,,240,420.5,,2,true,win\n\
             \"a,b \"\"c\"\"\",h|ü ✓,,,420.5,,2,true,\n\
             \"line\r\nbreak\",,,0,420.5,,2,true,\"x;y,z\"\n"
        );
    }
}
