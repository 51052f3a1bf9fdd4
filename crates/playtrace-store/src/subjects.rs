//! The subject index (docs/PRIVACY.md): which stored rows name which player or session, so an
//! erasure finds them without scanning the events.
//!
//! One row per commit, not one per key: a commit's `(key, seq)` pairs go into
//! `subject_postings` as one blob, and `subject_filters` gets a Bloom filter of its keys with the
//! range of sequence numbers it covers. Both tables are appended to at their end (the row id
//! grows), so indexing costs the writer one or two row inserts per commit instead of a B-tree
//! insert per key. An erasure reads only the filters (about 10 bits a key: ~38 MB for 30 M
//! keys), then the postings of the few batches whose filter may hold the subject's keys, and
//! rewrites those batches without the erased rows' entries (so neither the keys nor their
//! filter bits stay behind).
//!
//! A small commit is merged into the newest batch while that holds fewer than [`MERGE_BELOW`]
//! entries, so the number of batches an erasure reads stays bounded by the number of keys, not
//! by how the writer's commits happened to fall.

use crate::record::StoredEvent;
use rusqlite::{params, Connection, OptionalExtension};
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::BTreeSet;

/// The newest batch takes a commit's entries while it holds fewer than this many.
const MERGE_BELOW: usize = 1_024;

/// Bloom filter bits per key (with [`PROBES`] probes: about 1% false positives per batch).
const BITS_PER_KEY: usize = 10;

/// Bloom filter probes per key.
const PROBES: u64 = 7;

/// Bytes per posting: the key (8) and the sequence number's offset from the batch's first (4).
const POSTING: usize = 12;

/// `(key, seq)`: a stored row names the subject whose key this is.
pub(crate) type Posting = (i64, i64);

/// One batch read back for an erasure or a trim.
pub(crate) struct Batch {
    pub(crate) id: i64,
    pub(crate) postings: Vec<Posting>,
}

/// Probe `i` is `(h1 + i·h2) % bits` (`h1`, `h2`: the key's low and high halves, `h2` odd).
/// Both are under 2^32, so the sum never wraps and each probe is the previous one plus
/// `h2 % bits`, wrapped once: two divisions a key instead of one a probe (the writer builds a
/// filter for every commit), and the very bits the stored filters were written with.
fn probes(key: i64, bits: u64) -> impl Iterator<Item = u64> {
    let h = key as u64;
    let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
    let step = h2 % bits;
    let mut at = h1 % bits;
    (0..PROBES).map(move |_| {
        let bit = at;
        at += step;
        if at >= bits {
            at -= bits;
        }
        bit
    })
}

/// The Bloom filter of `postings`' keys.
fn filter(postings: &[Posting]) -> Vec<u8> {
    let bytes = (postings.len() * BITS_PER_KEY).div_ceil(8).max(8);
    let mut out = vec![0u8; bytes];
    let bits = (bytes * 8) as u64;
    for &(key, _) in postings {
        for bit in probes(key, bits) {
            out[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    out
}

/// Whether a batch with this filter may name `key`.
fn may_hold(filter: &[u8], key: i64) -> bool {
    if filter.is_empty() {
        return true;
    }
    let bits = (filter.len() * 8) as u64;
    probes(key, bits).all(|bit| filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
}

fn encode(first: i64, postings: &[Posting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(postings.len() * POSTING);
    for &(key, seq) in postings {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&((seq - first) as u32).to_le_bytes());
    }
    out
}

fn decode(first: i64, blob: &[u8]) -> Vec<Posting> {
    blob.chunks_exact(POSTING)
        .map(|c| {
            let mut key = [0u8; 8];
            key.copy_from_slice(&c[..8]);
            let mut offset = [0u8; 4];
            offset.copy_from_slice(&c[8..]);
            (
                i64::from_le_bytes(key),
                first + i64::from(u32::from_le_bytes(offset)),
            )
        })
        .collect()
}

/// `postings` cut into runs whose sequence numbers fit a batch's 32-bit offsets.
fn runs(mut postings: Vec<Posting>) -> Vec<Vec<Posting>> {
    postings.sort_unstable_by_key(|&(key, seq)| (seq, key));
    // A commit's rows span far fewer than 2^32 sequence numbers: one run, kept as it is rather
    // than copied posting by posting (the writer indexes every commit).
    if let (Some(first), Some(last)) = (postings.first(), postings.last()) {
        if last.1 - first.1 <= i64::from(u32::MAX) {
            return vec![postings];
        }
    }
    let mut out: Vec<Vec<Posting>> = Vec::new();
    for p in postings {
        match out.last_mut() {
            Some(run) if p.1 - run[0].1 <= i64::from(u32::MAX) => run.push(p),
            _ => out.push(vec![p]),
        }
    }
    out
}

fn insert(conn: &Connection, postings: &[Posting]) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (
        postings.iter().map(|p| p.1).min(),
        postings.iter().map(|p| p.1).max(),
    ) else {
        return Ok(());
    };
    let (bits, encoded) = (filter(postings), encode(first, postings));
    store(conn, (first, last), postings.len(), &bits, &encoded)
}

/// One new batch: its range of sequence numbers, entry count, filter and encoded postings.
fn store(
    conn: &Connection,
    (first, last): (i64, i64),
    entries: usize,
    filter: &[u8],
    postings: &[u8],
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO subject_filters (first_seq, last_seq, entries, filter) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![first, last, entries as i64, filter])?;
    let id = conn.last_insert_rowid();
    conn.prepare_cached("INSERT INTO subject_postings (id, postings) VALUES (?1, ?2)")?
        .execute(params![id, postings])?;
    Ok(())
}

/// Replaces batch `id` with `postings` (removes it when none are left).
fn rewrite(conn: &Connection, id: i64, postings: &[Posting]) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (
        postings.iter().map(|p| p.1).min(),
        postings.iter().map(|p| p.1).max(),
    ) else {
        conn.prepare_cached("DELETE FROM subject_filters WHERE id = ?1")?
            .execute([id])?;
        conn.prepare_cached("DELETE FROM subject_postings WHERE id = ?1")?
            .execute([id])?;
        return Ok(());
    };
    conn.prepare_cached(
        "UPDATE subject_filters SET first_seq = ?2, last_seq = ?3, entries = ?4, filter = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        first,
        last,
        postings.len() as i64,
        filter(postings)
    ])?;
    conn.prepare_cached("UPDATE subject_postings SET postings = ?2 WHERE id = ?1")?
        .execute(params![id, encode(first, postings)])?;
    Ok(())
}

fn read(conn: &Connection, id: i64, first: i64) -> rusqlite::Result<Batch> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT postings FROM subject_postings WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(Batch {
        id,
        postings: decode(first, &blob.unwrap_or_default()),
    })
}

/// A job's batch built before it reaches the writer (`Writer::try_submit`, on the submitting
/// thread): its filter and its postings, each posting's sequence number written as the offset
/// of its event in the job from the first event that names a subject. A job whose events got
/// consecutive sequence numbers (every job without duplicates) is stored as it is, so the single
/// writer thread no longer builds the filter and the encoding for most of the index.
pub(crate) struct Prepared {
    /// Index in the job of the first and the last event that name a subject.
    first: usize,
    last: usize,
    entries: usize,
    filter: Vec<u8>,
    postings: Vec<u8>,
}

/// The batch of `events`' subjects, for a job that would make a batch of its own (one that holds
/// fewer than [`MERGE_BELOW`] entries is merged by the writer instead).
pub(crate) fn prepare(events: &[StoredEvent]) -> Option<Prepared> {
    let entries: usize = events.iter().map(|e| e.subjects.len()).sum();
    if entries < MERGE_BELOW {
        return None;
    }
    let first = events.iter().position(|e| !e.subjects.is_empty())?;
    let last = events.iter().rposition(|e| !e.subjects.is_empty())?;
    u32::try_from(last - first).ok()?;
    let mut postings = Vec::with_capacity(entries);
    for (at, e) in events.iter().enumerate().skip(first) {
        let from = postings.len();
        postings.extend(e.subjects.iter().map(|&key| (key, at as i64)));
        postings[from..].sort_unstable();
    }
    Some(Prepared {
        first,
        last,
        entries: postings.len(),
        filter: filter(&postings),
        postings: encode(first as i64, &postings),
    })
}

/// Stores `prepared` for a job whose events are numbered from `first_seq` on, one after another.
pub(crate) fn insert_prepared(
    conn: &Connection,
    first_seq: i64,
    prepared: &Prepared,
) -> rusqlite::Result<()> {
    let range = (
        first_seq + prepared.first as i64,
        first_seq + prepared.last as i64,
    );
    store(
        conn,
        range,
        prepared.entries,
        &prepared.filter,
        &prepared.postings,
    )
}

/// Indexes `postings` (rows this transaction stored): merged into the newest batch while it is
/// small, else a new batch.
pub(crate) fn append(conn: &Connection, postings: Vec<Posting>) -> rusqlite::Result<()> {
    if postings.is_empty() {
        return Ok(());
    }
    let newest: Option<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, first_seq, entries FROM subject_filters ORDER BY id DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let mut postings = postings;
    if let Some((id, first, entries)) = newest {
        if (entries as usize) < MERGE_BELOW {
            let mut merged = read(conn, id, first)?.postings;
            merged.append(&mut postings);
            let mut runs = runs(merged).into_iter();
            if let Some(run) = runs.next() {
                rewrite(conn, id, &run)?;
            }
            for run in runs {
                insert(conn, &run)?;
            }
            return Ok(());
        }
    }
    for run in runs(postings) {
        insert(conn, &run)?;
    }
    Ok(())
}

/// The batches that may name one of `keys`, with their postings.
pub(crate) fn candidates(conn: &Connection, keys: &BTreeSet<i64>) -> rusqlite::Result<Vec<Batch>> {
    let mut found = Vec::new();
    {
        let mut scan = conn.prepare("SELECT id, first_seq, filter FROM subject_filters")?;
        let mut rows = scan.query([])?;
        while let Some(row) = rows.next()? {
            let filter = row.get_ref(2)?.as_blob()?;
            if keys.iter().any(|&k| may_hold(filter, k)) {
                found.push((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?));
            }
        }
    }
    found
        .into_iter()
        .map(|(id, first)| read(conn, id, first))
        .collect()
}

/// Rewrites `batches` without the entries `gone` says to drop.
pub(crate) fn remove(
    conn: &Connection,
    batches: Vec<Batch>,
    gone: impl Fn(&Posting) -> bool,
) -> rusqlite::Result<()> {
    for batch in batches {
        let before = batch.postings.len();
        let kept: Vec<Posting> = batch.postings.into_iter().filter(|p| !gone(p)).collect();
        if kept.len() != before {
            rewrite(conn, batch.id, &kept)?;
        }
    }
    Ok(())
}

/// Entries of rows before `min_seq` (retention removed them): batches wholly before it go, the
/// one straddling it is rewritten without them.
pub(crate) fn prune_before(conn: &Connection, min_seq: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM subject_postings WHERE id IN
         (SELECT id FROM subject_filters WHERE last_seq < ?1)",
        [min_seq],
    )?;
    let mut removed = conn.execute("DELETE FROM subject_filters WHERE last_seq < ?1", [min_seq])?;
    let straddling: Vec<(i64, i64)> = conn
        .prepare_cached("SELECT id, first_seq FROM subject_filters WHERE first_seq < ?1")?
        .query_map([min_seq], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, first) in straddling {
        let batch = read(conn, id, first)?;
        let kept: Vec<Posting> = batch
            .postings
            .iter()
            .copied()
            .filter(|p| p.1 >= min_seq)
            .collect();
        removed += batch.postings.len() - kept.len();
        rewrite(conn, id, &kept)?;
    }
    Ok(removed)
}

/// Every entry of the index, by sequence number (tests, `store verify`-style checks).
#[cfg(test)]
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<BTreeMap<i64, Vec<i64>>> {
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let batches: Vec<(i64, i64)> = conn
        .prepare("SELECT id, first_seq FROM subject_filters")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, first) in batches {
        for (key, seq) in read(conn, id, first)?.postings {
            out.entry(seq).or_default().push(key);
        }
    }
    for keys in out.values_mut() {
        keys.sort_unstable();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::schema::open(&dir.path().join("db")).unwrap();
        (dir, conn)
    }

    #[test]
    fn probes_set_the_bits_stored_filters_were_written_with() {
        // The formula filters were written with before the probes stopped dividing: a store's
        // filters must read the same, or an erasure would miss rows.
        fn written(key: i64, bits: u64) -> Vec<u64> {
            let h = key as u64;
            let (h1, h2) = (h & 0xffff_ffff, (h >> 32) | 1);
            (0..PROBES)
                .map(|i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
                .collect()
        }
        for n in 0..20_000u64 {
            let key = xxhash_rust::xxh3::xxh3_64(&n.to_le_bytes()) as i64;
            for bits in [64, 80, 10_240, 30_000 + n, 1 << 33, (n + 1) * 1_000_003] {
                assert_eq!(probes(key, bits).collect::<Vec<_>>(), written(key, bits));
            }
        }
        for key in [0, -1, i64::MIN, i64::MAX] {
            assert_eq!(probes(key, 72).collect::<Vec<_>>(), written(key, 72));
        }
    }

    /// A batch built on the submitting thread must read back (filter, range, entries, postings)
    /// exactly as the one the writer would have built from the same rows.
    #[test]
    fn a_prepared_batch_is_stored_as_the_writer_would_build_it() {
        let key = |k: i64| xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes()) as i64;
        // 1,000 events; the first two and every fifth name nobody, the others one or two subjects
        // (given unsorted), so the batch starts after the job's first event.
        let events: Vec<StoredEvent> = (0..1_000i64)
            .map(|i| StoredEvent {
                subjects: match i {
                    0 | 1 => vec![],
                    _ if i % 5 == 0 => vec![],
                    _ if i % 2 == 0 => vec![key(i), key(-i)],
                    _ => vec![key(i % 50)],
                },
                ..StoredEvent::default()
            })
            .collect();
        let first_seq = 41;
        let postings: Vec<Posting> = (events.iter().zip(first_seq..))
            .flat_map(|(e, seq)| e.subjects.iter().map(move |&k| (k, seq)))
            .collect();
        assert!(postings.len() >= MERGE_BELOW);
        let prepared = prepare(&events).unwrap();
        let (_a, built) = db();
        append(&built, postings).unwrap();
        let (_b, stored) = db();
        insert_prepared(&stored, first_seq, &prepared).unwrap();
        /// first_seq, last_seq, entries, filter, postings
        type Row = (i64, i64, i64, Vec<u8>, Vec<u8>);
        let rows = |conn: &Connection| -> Vec<Row> {
            conn.prepare(
                "SELECT f.first_seq, f.last_seq, f.entries, f.filter, p.postings
                 FROM subject_filters f JOIN subject_postings p USING (id)",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let want = rows(&built);
        assert_eq!(want.len(), 1);
        assert_eq!((want[0].0, want[0].1), (43, 1_040));
        assert_eq!(rows(&stored), want);
        assert_eq!(all(&stored).unwrap(), all(&built).unwrap());
        // A job too small for a batch of its own is left to the writer's merging.
        assert!(prepare(&events[..100]).is_none());
    }

    #[test]
    fn a_key_is_found_in_every_batch_that_holds_it_and_rarely_elsewhere() {
        let (_dir, conn) = db();
        // 100 commits of 5,000 events, 3 keys each: batches are not merged (each is full).
        conn.execute_batch("BEGIN").unwrap();
        for commit in 0..100i64 {
            let postings = (0..5_000i64)
                .flat_map(|i| {
                    let seq = commit * 5_000 + i + 1;
                    [(seq * 3, seq), (seq * 3 + 1, seq), (-(seq % 977), seq)]
                })
                .map(|(k, s)| (xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes()) as i64, s))
                .collect();
            append(&conn, postings).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let batches: i64 = conn
            .query_row("SELECT count(*) FROM subject_filters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(batches, 100);
        let key = |k: i64| xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes()) as i64;
        // A key named once is found in its batch, at its row.
        let found = candidates(&conn, &BTreeSet::from([key(3 * 4_242)])).unwrap();
        let seqs: Vec<i64> = found
            .iter()
            .flat_map(|b| &b.postings)
            .filter(|p| p.0 == key(3 * 4_242))
            .map(|p| p.1)
            .collect();
        assert_eq!(seqs, vec![4_242]);
        assert!(found.len() <= 5, "{} batches read for one key", found.len());
        // A key named in every batch is found in all of them.
        let everywhere = candidates(&conn, &BTreeSet::from([key(-5)])).unwrap();
        assert_eq!(everywhere.len(), 100);
        // An absent key reads almost nothing.
        let absent = candidates(&conn, &BTreeSet::from([key(-1_000_000)])).unwrap();
        assert!(
            absent.len() <= 5,
            "{} batches read for no key",
            absent.len()
        );
    }

    #[test]
    fn small_commits_merge_and_removed_entries_leave_no_trace() {
        let (_dir, conn) = db();
        let key = |k: i64| xxhash_rust::xxh3::xxh3_64(&k.to_le_bytes()) as i64;
        conn.execute_batch("BEGIN").unwrap();
        for seq in 1..=3_000i64 {
            append(&conn, vec![(key(seq % 10), seq)]).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let batches: i64 = conn
            .query_row("SELECT count(*) FROM subject_filters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(batches, 3, "3,000 one-key commits in batches of 1,024");
        let found = candidates(&conn, &BTreeSet::from([key(7)])).unwrap();
        assert_eq!(found.len(), 3);
        remove(&conn, found, |p| p.0 == key(7)).unwrap();
        let left = all(&conn).unwrap();
        assert_eq!(left.len(), 2_700);
        assert!(left.values().all(|keys| keys != &vec![key(7)]));
        let again = candidates(&conn, &BTreeSet::from([key(7)])).unwrap();
        assert!(
            again.is_empty(),
            "the rewritten filters no longer hold the key"
        );
        prune_before(&conn, 1_500).unwrap();
        let left = all(&conn).unwrap();
        assert_eq!(left.keys().next(), Some(&1_500));
        assert_eq!(left.len(), 1_351);
    }
}
