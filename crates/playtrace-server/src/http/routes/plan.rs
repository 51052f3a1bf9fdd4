//! `GET /v1/plan/coverage` (scope read): the tracking plan's coverage report over stored
//! events — the same document `playtrace plan check --format json` prints, built by the same
//! `playtrace-plan` code — and the drift alerts' trip to the writer after an ingest.

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::pipeline::Work;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use playtrace_core::event::Event;
use playtrace_core::units::Millis;
use playtrace_plan::{Coverage, ReportOptions};
use playtrace_store::{EventFilter, Job};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Stored events one report reads at most (newest first are not preferred: the report covers
/// the oldest `MAX_EVENTS` after `since`, and says so with `scanLimited`).
const MAX_EVENTS: usize = 200_000;
const PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoverageQuery {
    game: Option<String>,
    env: Option<String>,
    /// RFC 3339, epoch milliseconds, or a duration ago (`1h`).
    since: Option<String>,
}

fn since_ms(text: &str, now_ms: i64) -> ApiResult<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(ms) = playtrace_core::time::parse_rfc3339_ms(text) {
        return Ok(ms as i64);
    }
    match text.parse::<Millis>() {
        Ok(ago) => Ok(now_ms - ago.as_ms_f64() as i64),
        Err(_) => Err(ApiError::bad_request(format!(
            "since: `{text}` is neither RFC 3339 (2026-01-01T00:00:00Z), epoch milliseconds nor \
             a duration ago (1h)"
        ))),
    }
}

pub(crate) async fn coverage(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<CoverageQuery>,
) -> ApiResult<Json<Value>> {
    let Some(gate) = app.plan() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_plan",
            "this collector has no tracking plan; set [plan] dir in its config (docs/PLAN.md)",
        ));
    };
    let now = playtrace_store::now_ms();
    let since = q.since.as_deref().map(|s| since_ms(s, now)).transpose()?;
    let reader = app.reader.clone();
    let (game, env) = (q.game.clone(), q.env.clone());
    let (report, limited) = blocking(move || {
        let mut cov = Coverage::new(ReportOptions::default());
        let mut after = 0;
        let mut read = 0usize;
        loop {
            let page = reader.events(&EventFilter {
                name_prefix: None,
                game: game.clone(),
                env: env.clone(),
                after,
                limit: PAGE,
                all_kinds: false,
                session: None,
                hub: None,
                room: None,
                scan_budget: None,
            })?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                if since.is_some_and(|s| e.recv_ms < s) {
                    continue;
                }
                read += 1;
                let event = serde_json::from_str(&e.body)
                    .ok()
                    .and_then(|o| Event::from_object(o).ok());
                let attrs = event.map_or(Value::Null, |ev| Value::Object(ev.attrs));
                cov.record(&e.name, &gate.plan().check(&e.name, &attrs), None);
            }
            if read >= MAX_EVENTS || page.len() < PAGE {
                break;
            }
        }
        let generated = playtrace_core::time::format_rfc3339_ms(now as f64).unwrap_or_default();
        let report = cov.report(gate.plan(), &[], &generated);
        Ok((report, read >= MAX_EVENTS))
    })
    .await?;
    let mut body = serde_json::to_value(&report).map_err(ApiError::internal)?;
    body["sources"]["dataset"] = Value::String("collector store".into());
    body["sources"]["game"] = q.game.map_or(Value::Null, Value::String);
    body["sources"]["env"] = q.env.map_or(Value::Null, Value::String);
    body["scanLimited"] = Value::Bool(limited);
    Ok(Json(body))
}

/// After an ingest: writes the drift alerts that changed (a `Work::Plan` job on the writer, so
/// they take their place in the one sequence); given back to the tracker if not recorded.
pub(crate) async fn record_drift(app: &AppState) {
    let Some(gate) = app.plan() else { return };
    if !crate::cluster::runs_clock(app) {
        return;
    }
    let changes = gate.drift_changes();
    if changes.is_empty() {
        return;
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job {
        events: vec![],
        rejects: vec![],
        extra: Work::Plan(changes.clone()),
        done: Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    };
    let stored = app.submit(job).is_ok() && rx.await.unwrap_or(false);
    if !stored {
        gate.undo_drift(&changes);
    }
}
