//! Stored rejects (docs/API.md, docs/REJECTS.md): `GET /v1/rejects` (filters, `group_by`),
//! `GET /v1/rejects/{seq}` (scope read) and `POST /v1/rejects/replay` (scope admin), which reads
//! selected rejects again through ingest and stores what now passes exactly once.

use crate::app::AppState;
use crate::http::auth::{Admin, Caller, Read};
use crate::http::commit::{queue, Queued};
use crate::http::error::{blocking, ApiError, ApiResult};
use crate::http::routes::params::Params;
use crate::http::routes::query::page_limit;
use crate::ingest::replay::ReplayBatch;
use crate::ingest::transform::Transform;
use crate::ingest::GameScope;
use crate::pipeline::{Ingested, Work};
use crate::view::reject_json;
use axum::extract::{Path, State};
use axum::Json;
use playtrace_core::time::parse_rfc3339_ms;
use playtrace_core::units::Millis;
use playtrace_store::{RejectEntry, RejectFilter, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Rejects read again per writer job while no live ingest request was answered in the last
/// [`LIVE_RECENT`]: with nobody waiting, larger pages replay fastest.
const REPLAY_PAGE: usize = 500;

/// Rejects read again per writer job beside live ingest. A live job arriving during a replay's
/// commit joins it after the page being written (the writer's feed) and is folded after the
/// pages before it, so the page bounds the replay work a live request waits for: on a quiet
/// 2-core machine, pages of 150 instead of 500 took the live p99 during a replay from 3.4x to
/// 2.45x the quiet figure, for a replay 8% slower (bench/recovery/README.md, round 12).
const REPLAY_PAGE_BESIDE_LIVE: usize = 150;

/// How long after the last answered live ingest request the replay keeps its smaller pages.
const LIVE_RECENT: Duration = Duration::from_secs(1);

/// A replay whose page reader thread ended early: nothing half-done is left behind.
const READER_STOPPED: &str = "the replay's page reader stopped before the last page (see the \
     collector's log); what was replayed stays replayed: run the replay again to carry on";

/// Replay pages on the writer's queue at once: two let a group commit take a page while the
/// next one waits (one left the writer idle between pages); four bought no more on a busy
/// 2-core machine and doubled live ingest's p99 beside the replay (bench/recovery/README.md).
const IN_FLIGHT: usize = 2;

/// How often a replay page waits for a full writer queue before the replay gives up (what was
/// committed stays committed; run the replay again).
const OVERLOAD_RETRIES: u32 = 600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectsQuery {
    after: Option<i64>,
    limit: Option<usize>,
    kind: Option<String>,
    name: Option<String>,
    game: Option<String>,
    env: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    replayed: Option<bool>,
    group_by: Option<String>,
}

/// A time bound: epoch ms, RFC 3339, or a duration back from now (`since=1h`).
fn time_bound(param: &str, text: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    if let Some(ms) = parse_rfc3339_ms(text) {
        return Ok(Some(ms as i64));
    }
    match text.parse::<Millis>() {
        Ok(d) => Ok(Some(playtrace_store::now_ms() - d.as_ms_f64() as i64)),
        Err(_) => Err(ApiError::bad_request(format!(
            "{param}={text}: use epoch milliseconds, an RFC 3339 time, or a duration back from \
             now such as 1h"
        ))),
    }
}

/// The filter every route of this module takes.
#[allow(clippy::too_many_arguments)]
fn filter(
    kind: Option<String>,
    name: Option<String>,
    game: Option<String>,
    env: Option<String>,
    since: Option<&str>,
    until: Option<&str>,
    q: Option<String>,
    replayed: Option<bool>,
) -> ApiResult<RejectFilter> {
    if let Some(k) = kind.as_deref() {
        if !["parse", "schema", "size", "encoding"].contains(&k) {
            return Err(ApiError::bad_request(format!(
                "kind={k}: use parse, schema, size or encoding"
            )));
        }
    }
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(RejectFilter {
        kind,
        name: some(name),
        game: some(game),
        env: some(env),
        since_ms: time_bound("since", since)?,
        until_ms: time_bound("until", until)?,
        text: some(q),
        replayed,
    })
}

/// A reject as the API shows it: the stored reject and whether it was replayed.
fn entry_json(e: &RejectEntry) -> Value {
    let mut v = reject_json(&e.record);
    if let Some(o) = v.as_object_mut() {
        o.insert("replayed".into(), Value::Bool(e.replayed_ms.is_some()));
        o.insert("replayedMs".into(), json!(e.replayed_ms));
        o.insert("replayedSeq".into(), json!(e.replayed_seq));
    }
    v
}

pub(crate) async fn list(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Params(q): Params<RejectsQuery>,
) -> ApiResult<Json<Value>> {
    let f = filter(
        q.kind,
        q.name,
        q.game,
        q.env,
        q.since.as_deref(),
        q.until.as_deref(),
        q.q,
        q.replayed,
    )?;
    let reader = app.reader.clone();
    if let Some(dims) = q.group_by.filter(|g| !g.is_empty()) {
        let dims: Vec<String> = dims.split(',').map(str::to_string).collect();
        for d in &dims {
            if !playtrace_store::REJECT_GROUP_DIMS.contains(&d.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "group_by: `{d}` is not a dimension; use kind, message, name, game or env \
                     (comma-separated)"
                )));
            }
        }
        let groups = blocking(move || {
            let refs: Vec<&str> = dims.iter().map(String::as_str).collect();
            let groups = reader.reject_groups(&f, &refs)?;
            Ok((
                refs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                groups,
            ))
        })
        .await?;
        let (dims, groups) = groups;
        let total: u64 = groups.iter().map(|g| g.count).sum();
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut o = serde_json::Map::new();
                for (d, k) in dims.iter().zip(&g.key) {
                    o.insert(d.clone(), json!(k));
                }
                o.insert("count".into(), json!(g.count));
                o.insert("firstMs".into(), json!(g.first_ms));
                o.insert("lastMs".into(), json!(g.last_ms));
                o.insert("example".into(), entry_json(&g.example));
                Value::Object(o)
            })
            .collect();
        return Ok(Json(json!({"groups": groups, "total": total})));
    }
    let limit = page_limit(q.limit)?;
    let after = q.after.unwrap_or(0);
    let records = blocking(move || reader.rejects_matching(&f, after, limit)).await?;
    let next = records.last().map_or(after, |r| r.record.seq);
    let rejects: Vec<Value> = records.iter().map(entry_json).collect();
    Ok(Json(json!({"rejects": rejects, "next": next})))
}

pub(crate) async fn get_one(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Read>,
    Path(seq): Path<i64>,
) -> ApiResult<Json<Value>> {
    let reader = app.reader.clone();
    match blocking(move || reader.reject(seq)).await? {
        Some(e) => Ok(Json(entry_json(&e))),
        None => Err(ApiError::not_found(format!(
            "no reject {seq}; list them with GET /v1/rejects"
        ))),
    }
}

/// `POST /v1/rejects/replay`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplayRequest {
    kind: Option<String>,
    name: Option<String>,
    game: Option<String>,
    env: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    /// The game of lines that name none (as `?game=` at ingest).
    default_game: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// A transform file's TOML text.
    transform: Option<String>,
}

pub(crate) async fn replay(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Admin>,
    body: Option<Json<ReplayRequest>>,
) -> ApiResult<Json<Value>> {
    let r = body.map(|Json(r)| r).unwrap_or_default();
    let f = filter(
        r.kind,
        r.name,
        r.game,
        r.env,
        r.since.as_deref(),
        r.until.as_deref(),
        r.q,
        Some(false),
    )?;
    let transform = match r.transform.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => Some(Arc::new(
            Transform::parse(text).map_err(ApiError::bad_request)?,
        )),
        None => None,
    };
    let games = GameScope {
        default: r.default_game.filter(|g| !g.is_empty()),
        only: None,
    };
    let max_line = app.config.limits.max_line.as_u64();
    let horizon_ms = app.with_live(|l| l.options().horizon_ms()) as i64;
    let mut totals = Totals::default();
    let source = Source {
        filter: f,
        games,
        transform,
        max_line,
    };
    // Pages are read on a background thread of their own (`Source::start`), the next one while
    // the ones queued commit, and queued on the writer in order, up to `IN_FLIGHT` at once, so a
    // group commit can take more than one (one page at a time left the writer idle between a
    // page's commit and the next page's arrival).
    let mut pages = source.start(&app)?;
    let mut in_flight = VecDeque::new();
    loop {
        let batch = match pages.next().await {
            Some(Ok(Some(batch))) => batch,
            Some(Ok(None)) => break,
            Some(Err(e)) => return Err(ApiError::store(e)),
            None => return Err(ApiError::internal(READER_STOPPED)),
        };
        totals.selected +=
            (batch.marks.len() as u64) + batch.failing.values().map(|(n, _)| n).sum::<u64>();
        totals.passing += batch.marks.len() as u64;
        for (key, (n, example)) in &batch.failing {
            let slot = totals.failing.entry(key.clone()).or_insert((0, *example));
            slot.0 += n;
        }
        let cutoff = playtrace_store::now_ms() - horizon_ms;
        totals.outside_windows += batch.marks.iter().filter(|m| m.recv_ms < cutoff).count() as u64;
        if !r.dry_run && !batch.marks.is_empty() {
            if in_flight.len() >= IN_FLIGHT {
                if let Some(oldest) = in_flight.pop_front() {
                    totals.settle(oldest).await?;
                }
            }
            in_flight.push_back(queue_page(&app, batch).await?);
        }
    }
    while let Some(page) = in_flight.pop_front() {
        totals.settle(page).await?;
    }
    let failing: Vec<Value> = totals
        .failing
        .iter()
        .map(|((kind, message), (count, example))| {
            json!({"kind": kind, "message": message, "count": count, "exampleSeq": example})
        })
        .collect();
    Ok(Json(json!({
        "dryRun": r.dry_run,
        "selected": totals.selected,
        "passing": totals.passing,
        "replayed": if r.dry_run { 0 } else { totals.passing },
        "events": totals.events.0,
        "duplicates": totals.events.1,
        "stillFailing": failing,
        "outsideLiveWindows": totals.outside_windows,
    })))
}

#[derive(Default)]
struct Totals {
    selected: u64,
    passing: u64,
    /// (stored, duplicates)
    events: (u64, u64),
    outside_windows: u64,
    failing: BTreeMap<(String, String), (u64, i64)>,
}

/// Where a replay's pages come from, and how they are read again.
struct Source {
    filter: RejectFilter,
    games: GameScope,
    transform: Option<Arc<Transform>>,
    max_line: u64,
}

/// What the page reader sends: a page read again, `None` after the last page, or the error
/// that stopped it.
type Page = Result<Option<ReplayBatch>, StoreError>;

/// The request's end of its page reader.
struct Pages {
    ask: std::sync::mpsc::Sender<()>,
    pages: mpsc::Receiver<Page>,
}

impl Pages {
    /// The next page, read only once asked for (after the page before it was queued, while the
    /// pages in flight commit): a reader running further ahead bought no faster replay and kept
    /// one more thread busy beside the writer (the writer's wait for a core and the live
    /// median went up, bench/recovery/README.md round 11). `None` if the reader is gone.
    async fn next(&mut self) -> Option<Page> {
        self.ask.send(()).ok()?;
        self.pages.recv().await
    }
}

impl Source {
    /// Reads the selected rejects page by page on a thread of its own at background priority
    /// (`crate::background`): reading and re-parsing are a third of a replay's CPU, and on a
    /// busy machine they would otherwise keep a live request's threads waiting for a core.
    /// The thread stops after the last page, at an error, or when the request is gone.
    fn start(self, app: &AppState) -> ApiResult<Pages> {
        let reader = app.reader.clone();
        let metrics = app.metrics.clone();
        let mut size = PageSize::new(metrics.ingest_seconds.count());
        self.start_with(move |filter, after| {
            let page = size.next(metrics.ingest_seconds.count(), Instant::now());
            reader.rejects_to_replay(filter, after, page)
        })
    }

    /// [`Source::start`] with the page fetch given (`after` the last sequence read).
    fn start_with(
        self,
        mut fetch: impl FnMut(&RejectFilter, i64) -> Result<Vec<RejectEntry>, StoreError>
            + Send
            + 'static,
    ) -> ApiResult<Pages> {
        let (ask, asked) = std::sync::mpsc::channel();
        let (tx, pages) = mpsc::channel(1);
        crate::background::spawn("replay-pages", move || {
            let mut after = 0;
            while asked.recv().is_ok() {
                let page = match fetch(&self.filter, after) {
                    Ok(page) if page.is_empty() => {
                        let _ = tx.blocking_send(Ok(None));
                        return;
                    }
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                after = page.last().map_or(after, |e| e.record.seq);
                let batch =
                    ReplayBatch::read(&self.games, &page, self.transform.as_deref(), self.max_line);
                if tx.blocking_send(Ok(Some(batch))).is_err() {
                    return;
                }
            }
        })
        .map_err(ApiError::internal)?;
        Ok(Pages { ask, pages })
    }
}

/// The size of the next replay page: [`REPLAY_PAGE_BESIDE_LIVE`] while live ingest requests are
/// being answered (the count of answered requests moved within [`LIVE_RECENT`]), else
/// [`REPLAY_PAGE`].
struct PageSize {
    answered: u64,
    live_at: Option<Instant>,
}

impl PageSize {
    /// `answered`: the count when the replay starts (requests answered before it say nothing
    /// about traffic now).
    fn new(answered: u64) -> Self {
        PageSize {
            answered,
            live_at: None,
        }
    }

    /// `answered`: live ingest requests answered so far (`playtrace_ingest_duration_seconds`'
    /// count, which replay pages do not move).
    fn next(&mut self, answered: u64, now: Instant) -> usize {
        if answered != self.answered {
            self.answered = answered;
            self.live_at = Some(now);
        }
        match self.live_at {
            Some(at) if now.saturating_duration_since(at) < LIVE_RECENT => REPLAY_PAGE_BESIDE_LIVE,
            _ => REPLAY_PAGE,
        }
    }
}

/// A replay page on the writer's queue, and the signal that its events are in the live budgets.
struct InFlight<'a> {
    queued: Queued<'a>,
    folded: tokio::sync::oneshot::Receiver<()>,
}

impl Totals {
    /// Waits for a page's commit and its fold (the replay answers once budgets include it).
    async fn settle(&mut self, page: InFlight<'_>) -> ApiResult<()> {
        let outcome = page.queued.outcome().await?;
        let _ = page.folded.await;
        self.events.0 += outcome.accepted;
        self.events.1 += outcome.duplicates;
        Ok(())
    }
}

/// Queues one page of replayed events with their reject marks; waits for a full writer queue
/// instead of failing (live ingest goes first).
async fn queue_page(app: &AppState, batch: ReplayBatch) -> ApiResult<InFlight<'_>> {
    let rules = app.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
    let ReplayBatch { parsed, marks, .. } = batch;
    let mut ingested = Ingested::new(&rules, &parsed.events, parsed.observations).replaying(marks);
    let folded = ingested.fold_signal();
    let queued = queue(
        app,
        parsed.events,
        Vec::new(),
        Work::Ingest(ingested),
        OVERLOAD_RETRIES,
        Duration::from_millis(100),
    )
    .await?;
    Ok(InFlight { queued, folded })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::{this_thread_niceness, NICENESS};
    use playtrace_store::{RejectRecord, RejectRow};
    use std::sync::Mutex;

    /// Pages stay large while nobody ingests (requests answered before the replay do not
    /// count), shrink from the first page after a live request was answered, and grow back a
    /// second after the last one.
    #[test]
    fn replay_pages_shrink_while_live_requests_are_answered() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 40 requests were answered before the replay started, none since.
        let mut size = PageSize::new(40);
        assert_eq!(size.next(40, at(0)), REPLAY_PAGE);
        assert_eq!(size.next(40, at(5_000)), REPLAY_PAGE);
        assert_eq!(size.next(41, at(5_010)), REPLAY_PAGE_BESIDE_LIVE);
        assert_eq!(size.next(41, at(5_900)), REPLAY_PAGE_BESIDE_LIVE);
        assert_eq!(size.next(43, at(6_500)), REPLAY_PAGE_BESIDE_LIVE);
        assert_eq!(size.next(43, at(7_400)), REPLAY_PAGE_BESIDE_LIVE);
        assert_eq!(size.next(43, at(7_500)), REPLAY_PAGE);
        const { assert!(REPLAY_PAGE_BESIDE_LIVE < REPLAY_PAGE) };
    }

    fn entry(seq: i64) -> RejectEntry {
        RejectEntry {
            record: RejectRecord {
                seq,
                recv_ms: 1000,
                row: RejectRow {
                    line: 1,
                    kind: "schema".into(),
                    message: String::new(),
                    raw: format!(r#"{{"evt":"e{seq}"}}"#),
                },
            },
            replayed_ms: None,
            replayed_seq: None,
        }
    }

    /// The replay's page reads run at background priority on a thread of their own, never on a
    /// thread live requests use (whose priority could not be raised again afterwards).
    #[tokio::test]
    async fn pages_are_read_in_order_on_a_background_thread_at_the_lowest_priority() {
        let before = this_thread_niceness();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let source = Source {
            filter: RejectFilter::default(),
            games: GameScope::default(),
            transform: Some(Arc::new(
                Transform::parse("[[rename]]\nfrom = \"evt\"\nto = \"event\"\n").unwrap(),
            )),
            max_line: 1 << 20,
        };
        let log = seen.clone();
        let mut pages = source
            .start_with(move |_, after| {
                let name = std::thread::current().name().map(str::to_string);
                log.lock()
                    .unwrap()
                    .push((after, name, this_thread_niceness()));
                Ok(match after {
                    0 => vec![entry(1), entry(2)],
                    2 => vec![entry(3)],
                    _ => Vec::new(),
                })
            })
            .unwrap();
        let mut marks = Vec::new();
        while let Some(Ok(Some(batch))) = pages.next().await {
            marks.extend(batch.marks.iter().map(|m| m.reject_seq));
        }
        assert_eq!(marks, [1, 2, 3]);
        let seen = seen.lock().unwrap().clone();
        let expected = |after| (after, Some("replay-pages".to_string()), Some(NICENESS));
        #[cfg(target_os = "linux")]
        assert_eq!(seen, [expected(0), expected(2), expected(3)]);
        #[cfg(not(target_os = "linux"))]
        assert_eq!(seen.len(), 3);
        // The request's own thread keeps its priority.
        assert_eq!(this_thread_niceness(), before);
    }
}
