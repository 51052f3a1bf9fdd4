//! Reading stored rejects again (issue 25): each raw line, after the optional [`Transform`], goes
//! through [`Parsed::push_text`] — the one reading path of an NDJSON line — so whatever ingest
//! checks today applies to a replay too.
//!
//! Exactly once: an event of a replayed line without a client `id` gets `reject-<seq>` (with
//! `-<n>` per event of a document), so the store's `(game, id)` dedup makes a second replay add
//! nothing; and the reject is marked replayed in the same transaction as its events
//! ([`ReplayMark`], applied by the commit hook).

use super::transform::{Repaired, Transform};
use super::{GameScope, Parsed};
use memchr::memmem;
use playtrace_store::{RejectEntry, StoreError, StoredEvent, Tx};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

/// A reject whose line now reads: where its events are in the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayMark {
    /// The reject's sequence number.
    pub(crate) reject_seq: i64,
    /// Index of its first event in the job.
    pub(crate) first: usize,
    /// Its original receive time, epoch ms.
    pub(crate) recv_ms: i64,
}

/// One page of rejects read again.
#[derive(Default)]
pub(crate) struct ReplayBatch {
    /// The events of the rejects that now read, ready to commit (no rejects: a line that still
    /// fails stays the reject it was).
    pub(crate) parsed: Parsed,
    /// Which events came from which reject.
    pub(crate) marks: Vec<ReplayMark>,
    /// Rejects that still fail, by `(kind, message)`: count and one example's sequence.
    pub(crate) failing: BTreeMap<(String, String), (u64, i64)>,
}

impl ReplayBatch {
    /// Reads `entries` again for a request of `games`.
    pub(crate) fn read(
        games: &GameScope,
        entries: &[RejectEntry],
        transform: Option<&Transform>,
        max_line: u64,
    ) -> ReplayBatch {
        let mut partial = Vec::new();
        loop {
            match Self::read_except(games, entries, transform, max_line, &partial) {
                Ok(batch) => return batch,
                // A document line whose events read only in part: read the page again
                // without it (rare; its reject stays as it is).
                Err(seq) => partial.push(seq),
            }
        }
    }

    /// One read of the page, leaving out the rejects in `partial` (counted as failing); `Err`
    /// names a reject that read only in part.
    fn read_except(
        games: &GameScope,
        entries: &[RejectEntry],
        transform: Option<&Transform>,
        max_line: u64,
        partial: &[i64],
    ) -> Result<ReplayBatch, i64> {
        let mut batch = ReplayBatch {
            parsed: Parsed::new(games.clone()),
            ..ReplayBatch::default()
        };
        for entry in entries {
            let record = &entry.record;
            if partial.contains(&record.seq) {
                batch.fail(
                    "schema",
                    "some events of the line still fail; replay after fixing all".into(),
                    record.seq,
                );
                continue;
            }
            let (first, rejects) = (batch.parsed.events.len(), batch.parsed.rejects.len());
            let raw = record.row.raw.as_str();
            let repaired = transform.map_or(Repaired::Unchanged, |t| t.repair(raw));
            // A line renamed on its text is read as it is; where it does not read, the round
            // trip's line is read instead, so what fails, fails as it always did.
            let spliced_read = match &repaired {
                Repaired::Spliced(line) if line.len() as u64 <= max_line => {
                    batch.parsed.push_text(record.row.line, line);
                    match batch.parsed.rejects.len() > rejects {
                        false => true,
                        true if batch.parsed.events.len() > first => return Err(record.seq),
                        true => {
                            batch.parsed.rejects.truncate(rejects);
                            false
                        }
                    }
                }
                _ => false,
            };
            if !spliced_read {
                let exact = match repaired {
                    Repaired::Unchanged => None,
                    Repaired::Exact(line) => Some(line),
                    Repaired::Spliced(_) => transform.and_then(|t| t.apply(raw)),
                };
                let text = exact.as_deref().unwrap_or(raw);
                if text.len() as u64 > max_line {
                    batch.fail(
                        "size",
                        format!("line is {} bytes, over limits.max_line", text.len()),
                        record.seq,
                    );
                    continue;
                }
                // Read straight into the job: a line that fails as a whole leaves only its
                // rejects, which are taken back (the stored reject stays as it is).
                batch.parsed.push_text(record.row.line, text);
                if batch.parsed.rejects.len() > rejects {
                    if batch.parsed.events.len() > first {
                        return Err(record.seq);
                    }
                    let r = batch.parsed.rejects.swap_remove(rejects);
                    batch.parsed.rejects.truncate(rejects);
                    batch.fail(&r.kind, r.message, record.seq);
                    continue;
                }
            }
            if batch.parsed.events.len() == first {
                batch.fail("schema", "the line holds no event".into(), record.seq);
                continue;
            }
            let events = &mut batch.parsed.events[first..];
            let many = events.len() > 1;
            for (n, e) in events.iter_mut().enumerate() {
                let derived = e.id.is_none().then(|| {
                    if many {
                        format!("reject-{}-{n}", record.seq)
                    } else {
                        format!("reject-{}", record.seq)
                    }
                });
                e.body = mark_body(&e.body, derived.as_deref(), record.seq, record.recv_ms);
                if derived.is_some() {
                    e.id = derived.map(Into::into);
                }
            }
            batch.marks.push(ReplayMark {
                reject_seq: record.seq,
                first,
                recv_ms: record.recv_ms,
            });
        }
        Ok(batch)
    }

    fn fail(&mut self, kind: &str, message: String, seq: i64) {
        self.failing
            .entry((kind.to_string(), message))
            .or_insert((0, seq))
            .0 += 1;
    }
}

/// Inside the commit of a replay's events: marks each reject replayed with the sequence of its
/// first event (the one already stored when a replay runs again after a crash or twice).
pub(crate) fn mark_in_commit(
    tx: &Tx<'_>,
    events: &[StoredEvent],
    marks: &[ReplayMark],
) -> Result<(), StoreError> {
    let mut pairs = Vec::with_capacity(marks.len());
    for m in marks {
        let Some(e) = events.get(m.first) else {
            continue;
        };
        let seq = match (e.seq, &e.id) {
            (0, Some(id)) => tx.event_seq(&e.game, id)?,
            (0, None) => None,
            (seq, _) => Some(seq),
        };
        pairs.push((m.reject_seq, seq));
    }
    tx.mark_rejects_replayed(&pairs)
}

/// Per event of a job, the receive time it keeps (replayed events: their reject's); empty when
/// the job is no replay.
pub(crate) fn receive_times(marks: &[ReplayMark], events: usize) -> Vec<Option<i64>> {
    if marks.is_empty() {
        return Vec::new();
    }
    let mut times = vec![None; events];
    for (i, m) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(events, |next| next.first);
        for t in times.iter_mut().take(end).skip(m.first) {
            *t = Some(m.recv_ms);
        }
    }
    times
}

/// The original receive time a replayed event's stored envelope carries (the live state rebuilt
/// at start counts it where the replay did). A substring test first: almost no body has one.
pub(crate) fn original_recv_ms(body: &str) -> Option<i64> {
    const KEY: &str = "\"originalReceivedMs\":";
    let at = memchr::memmem::find(body.as_bytes(), KEY.as_bytes())?;
    let rest = body[at + KEY.len()..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The keys whose presence makes [`mark_body`] rewrite a body as JSON (searchers built once:
/// building one per event was a tenth of marking).
static CLASHES: LazyLock<[memmem::Finder<'static>; 3]> = LazyLock::new(|| {
    [
        memmem::Finder::new("\"id\""),
        memmem::Finder::new("\"replayed"),
        memmem::Finder::new("\"originalReceivedMs\""),
    ]
});

/// The stored envelope of a replayed event: `replayed: true`, the reject it came from and its
/// original receive time, and the derived id (so the body says what the `id` column does).
fn mark_body(body: &str, id: Option<&str>, reject_seq: i64, recv_ms: i64) -> String {
    let rest = body.trim_start().strip_prefix('{').map(str::trim_start);
    // The common case spliced as text (no second parse of every event); a body that already
    // names one of these keys (an `id: null`, an earlier mark) is rewritten as JSON instead.
    let [id_key, replayed, original] = &*CLASHES;
    let has = |key: &memmem::Finder<'_>| key.find(body.as_bytes()).is_some();
    let clash = (id.is_some() && has(id_key)) || has(replayed) || has(original);
    if let (Some(rest), false) = (rest, clash) {
        let mut out = String::with_capacity(body.len() + 96);
        let _ = write!(
            out,
            "{{\"replayed\":true,\"replayedFrom\":{reject_seq},\"originalReceivedMs\":{recv_ms}"
        );
        if let Some(id) = id {
            out.push_str(",\"id\":");
            // A derived id (`reject-<seq>[-<n>]`) needs no escapes.
            if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                out.push('"');
                out.push_str(id);
                out.push('"');
            } else {
                out.push_str(&Value::String(id.to_string()).to_string());
            }
        }
        if !rest.starts_with('}') {
            out.push(',');
        }
        out.push_str(rest);
        return out;
    }
    let Ok(mut o) = serde_json::from_str::<Map<String, Value>>(body) else {
        return body.to_string();
    };
    if let Some(id) = id {
        o.insert("id".into(), Value::String(id.to_string()));
    }
    o.insert("replayed".into(), Value::Bool(true));
    o.insert("replayedFrom".into(), Value::from(reject_seq));
    o.insert("originalReceivedMs".into(), Value::from(recv_ms));
    Value::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_store::{RejectRecord, RejectRow};

    fn entry(seq: i64, raw: &str) -> RejectEntry {
        RejectEntry {
            record: RejectRecord {
                seq,
                recv_ms: 1000 + seq,
                row: RejectRow {
                    line: 1,
                    kind: "schema".into(),
                    message: "m".into(),
                    raw: raw.into(),
                },
            },
            replayed_ms: None,
            replayed_seq: None,
        }
    }

    #[test]
    fn a_renamed_line_that_does_not_read_fails_as_the_line_itself_does() {
        // The rename is done on the text, unchecked; the line that then does not read must fail
        // with the stored line's own error (its columns), as the JSON round trip left it.
        let t = Transform::parse("[[rename]]\nfrom = \"msg\"\nto = \"message\"\n").unwrap();
        let raw = r#"{"level":"info","msg":"telemetry.contest.armed","x":tru}"#;
        let b = ReplayBatch::read(&GameScope::default(), &[entry(7, raw)], Some(&t), 1 << 20);
        let mut alone = Parsed::new(GameScope::default());
        alone.push_text(1, raw);
        let expected = (
            alone.rejects[0].kind.clone(),
            alone.rejects[0].message.clone(),
        );
        assert!(expected.1.contains("column"), "{expected:?}");
        assert_eq!(b.failing.keys().collect::<Vec<_>>(), [&expected]);
        assert_eq!(b.failing[&expected], (1, 7));
        assert!(b.parsed.events.is_empty() && b.parsed.rejects.is_empty() && b.marks.is_empty());
        // The same rename on a line that reads: the renamed text is what is stored.
        let good = r#"{"level":"info", "msg":"telemetry.contest.armed","hubId":"h"}"#;
        let b = ReplayBatch::read(&GameScope::default(), &[entry(8, good)], Some(&t), 1 << 20);
        assert!(b.failing.is_empty());
        assert_eq!(b.parsed.events[0].name, "telemetry.contest.armed");
        assert!(
            b.parsed.events[0]
                .body
                .ends_with(r#""level":"info", "message":"telemetry.contest.armed","hubId":"h"}"#),
            "{}",
            b.parsed.events[0].body
        );
    }

    #[test]
    fn repaired_lines_get_derived_ids_and_failures_are_grouped() {
        let t = Transform::parse("[[rename]]\nfrom = \"evt\"\nto = \"event\"\n").unwrap();
        let entries = [
            entry(1, r#"{"evt":"a"}"#),
            entry(2, r#"{"evt":"b","id":"own"}"#),
            entry(3, "{not json"),
            entry(4, "{not json either"),
        ];
        let b = ReplayBatch::read(&GameScope::default(), &entries, Some(&t), 1 << 20);
        let ids: Vec<_> = b.parsed.events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, [Some("reject-1".into()), Some("own".into())]);
        assert_eq!(b.marks.len(), 2);
        assert!(b.parsed.rejects.is_empty());
        let body: Value = serde_json::from_str(&b.parsed.events[0].body).unwrap();
        assert_eq!(body["replayed"], true);
        assert_eq!(body["originalReceivedMs"], 1001);
        assert_eq!(original_recv_ms(&b.parsed.events[0].body), Some(1001));
        assert_eq!(original_recv_ms(r#"{"event":"x"}"#), None);
        let own: Value = serde_json::from_str(&b.parsed.events[1].body).unwrap();
        assert_eq!(
            (own["id"].as_str(), own["replayed"].as_bool()),
            (Some("own"), Some(true))
        );
        for body in [
            r#"{}"#,
            r#"{"event":"x","id":null}"#,
            r#" { "event":"x" } "#,
        ] {
            let marked: Value = serde_json::from_str(&mark_body(body, Some("r-1"), 1, 2)).unwrap();
            assert_eq!(
                (marked["id"].as_str(), marked["replayed"].as_bool()),
                (Some("r-1"), Some(true)),
                "{body}"
            );
        }
        assert_eq!(b.failing.values().map(|(n, _)| n).sum::<u64>(), 2);
    }
}
