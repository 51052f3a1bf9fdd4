//! `GET /v1/budgets/history` (scope read): budgets per step over any range, from the store's
//! per-minute and per-hour rows (`pipeline/history.rs` writes them; core's `history` answers).
//! Percentiles are exact over each step: rows hold counts per distinct duration.

use crate::app::AppState;
use crate::http::auth::{Caller, Read};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::pipeline::history::{flush, key_of};
use axum::extract::State;
use axum::Json;
use playtrace_core::history::{answer, HistoryPoint, HistoryQuery};
use playtrace_core::rollup::{HistoryKey, HOUR_MS, MINUTE_MS};
use playtrace_core::summary::GroupDim;
use playtrace_core::time::{format_rfc3339_ms, parse_rfc3339_ms};
use playtrace_core::units::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// An ungrouped query looks its all-groups rows up by key when they are at most one in this
/// many of the scope's series (else one pass over the range's rows reads less).
const LOOKUP_SHARE: usize = 4;

/// Points one answer may hold (per group): a week at 10-minute steps.
pub(crate) const MAX_POINTS: i64 = 1_008;

/// Steps offered when none is given: the first giving at most [`DEFAULT_POINTS`] points.
const STEPS_MS: [i64; 9] = [
    MINUTE_MS,
    5 * MINUTE_MS,
    10 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    24 * HOUR_MS,
];
const DEFAULT_POINTS: i64 = 120;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    group_by: Option<String>,
    game: Option<String>,
    env: Option<String>,
}

/// A time parameter: RFC 3339, or a duration back from `now` (`1h`, `7d`; SPEC §7's syntax).
fn time_param(name: &str, text: &str, now: i64) -> ApiResult<i64> {
    if let Some(ms) = parse_rfc3339_ms(text.trim()) {
        return Ok(ms.floor() as i64);
    }
    let ago = text.parse::<Millis>().map_err(|e| {
        ApiError::bad_request(format!(
            "{name}: `{text}` is neither an RFC 3339 time (2026-11-26T16:00:00Z) nor a duration \
             back from now ({e})"
        ))
    })?;
    Ok(now - ago.as_ms_i64())
}

/// The query's range and step, checked: `from` rounded down and `to` up to the rows read (hours
/// when the step is whole hours, else minutes).
fn range(q: &HistoryParams, now: i64) -> ApiResult<(i64, i64, i64, bool)> {
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => time_param("to", t, now)?,
        None => now,
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => time_param("from", t, now)?,
        None => to - HOUR_MS,
    };
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({}) must be before to ({}); give from=1h (an hour ago) or RFC 3339 times",
            format_rfc3339_ms(from as f64).unwrap_or_default(),
            format_rfc3339_ms(to as f64).unwrap_or_default()
        )));
    }
    let step = match q.step.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            let ms = s
                .parse::<Millis>()
                .map_err(|e| ApiError::bad_request(format!("step: {e}")))?
                .as_ms_i64();
            if ms == 0 || ms % MINUTE_MS != 0 {
                return Err(ApiError::bad_request(format!(
                    "step: `{s}` is not a whole number of minutes; use 1m, 5m, 1h, 1d …"
                )));
            }
            ms
        }
        None => STEPS_MS
            .iter()
            .copied()
            .find(|s| (to - from) / s < DEFAULT_POINTS)
            .unwrap_or(24 * HOUR_MS),
    };
    let hours = step % HOUR_MS == 0;
    let unit = if hours { HOUR_MS } else { MINUTE_MS };
    let from = from.div_euclid(unit) * unit;
    let to = (to + unit - 1).div_euclid(unit) * unit;
    let points = (to - from + step - 1) / step;
    if points > MAX_POINTS {
        return Err(ApiError::bad_request(format!(
            "step: {} over this range makes {points} points, more than {MAX_POINTS}; use a larger \
             step or a shorter range",
            Millis::from_ms_saturating(step as u64)
        )));
    }
    Ok((from, to, step, hours))
}

fn group_by(app: &AppState, text: Option<&str>) -> ApiResult<Vec<GroupDim>> {
    let mut dims = Vec::new();
    for d in text
        .filter(|s| !s.is_empty())
        .into_iter()
        .flat_map(|s| s.split(','))
    {
        let dim = app.config.dimensions.parse(d).ok_or_else(|| {
            ApiError::bad_request(format!(
                "group_by: `{d}` is not a dimension; use {} (comma-separated; more are \
                 configured with [[dimensions]])",
                app.config.dimensions.known()
            ))
        })?;
        if !dims.contains(&dim) {
            dims.push(dim);
        }
    }
    Ok(dims)
}

/// The answer, serialized as it is (a week per room is thousands of budget lines: no JSON tree
/// in between).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryAnswer {
    from: Option<String>,
    to: Option<String>,
    from_ms: i64,
    to_ms: i64,
    step: String,
    step_ms: i64,
    game: Option<String>,
    env: Option<String>,
    group_by: Vec<GroupDim>,
    points: Vec<HistoryPoint>,
}

pub(crate) async fn budget_history(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<HistoryParams>,
) -> ApiResult<Json<HistoryAnswer>> {
    let now = playtrace_store::now_ms();
    let (from, to, step, hours) = range(&q, now)?;
    let query = HistoryQuery {
        from_ms: from,
        to_ms: to,
        step_ms: step,
        group_by: group_by(&app, q.group_by.as_deref())?,
        game: q.game,
        env: q.env,
    };
    // What the live windows counted up to now is in the rows before they are read.
    if to > now - 2 * MINUTE_MS {
        flush(&app).await;
    }
    let reader = app.reader.clone();
    let series = blocking(move || reader.rollup_series()).await?;
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(series.len());
    let mut keys: Vec<HistoryKey> = Vec::with_capacity(series.len());
    for s in &series {
        if let Some(k) = key_of(s.metric, &s.key, &app.config.dimensions) {
            index.insert(s.id, keys.len());
            keys.push(k);
        }
    }
    // Which rows to read: the all-groups series' (every point's overall line); a grouped query
    // its groups' too; an ungrouped one its groups' only before the first all-groups row
    // (stored before such rows existed), where they make the overall line.
    let all_groups: HashSet<i64> = index
        .iter()
        .filter(|(_, &i)| keys[i].group.is_empty())
        .map(|(&id, _)| id)
        .collect();
    let in_scope: HashSet<i64> = index
        .iter()
        .filter(|(_, &i)| query.in_scope(&keys[i]))
        .map(|(&id, _)| id)
        .collect();
    let grouped = !query.group_by.is_empty();
    let reader = app.reader.clone();
    let budgets = app.config.budgets.set.clone();
    let (query, points) = blocking(move || {
        let first = if grouped {
            None
        } else {
            reader.rollup_first(hours, &all_groups)?
        };
        // Where no group row is older than the first all-groups row (every store written since
        // those rows exist), an ungrouped query needs only the all-groups rows: looked up by key
        // when they are few among the series.
        let sums: Vec<i64> = all_groups.intersection(&in_scope).copied().collect();
        let only_sums = match first {
            Some(f) if f <= from => true,
            Some(f) => {
                let groups: HashSet<i64> = in_scope.difference(&all_groups).copied().collect();
                reader.rollup_first(hours, &groups)?.is_none_or(|g| g >= f)
            }
            None => false,
        };
        let rows = if !grouped && only_sums && sums.len() * LOOKUP_SHARE <= in_scope.len().max(1) {
            reader.rollup_rows_of(from, to, hours, &sums)?
        } else {
            reader.rollup_rows(from, to, hours, |at, id| {
                in_scope.contains(&id)
                    && (grouped || all_groups.contains(&id) || first.is_none_or(|f| at < f))
            })?
        };
        // A week of groups is tens of thousands of rows: answered off the async workers too.
        let points = answer(
            &query,
            &budgets,
            &keys,
            rows.iter()
                .filter_map(|r| Some((r.at_ms, *index.get(&r.series)?, r.counts.as_slice()))),
        );
        Ok((query, points))
    })
    .await?;
    Ok(Json(HistoryAnswer {
        from: format_rfc3339_ms(from as f64),
        to: format_rfc3339_ms(to as f64),
        from_ms: from,
        to_ms: to,
        step: Millis::from_ms_saturating(step as u64).to_string(),
        step_ms: step,
        game: query.game,
        env: query.env,
        group_by: query.group_by,
        points,
    }))
}
