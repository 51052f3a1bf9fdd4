//! Event bodies stored without the envelope members their columns already hold.
//!
//! A line as SDKs send it starts with its envelope — `{"event":"match.end","id":"c0-1",
//! "game":"bench","env":"prod","session":"s-1","ts":1795700000000,"attrs":{…}}` — and the
//! row keeps each of those values in a column too: about a quarter of a typical body stored
//! twice (~80 of ~300 bytes in `bench/ingest`'s lines). The writer stores the body without its leading
//! envelope members when the columns give back their exact text (`{"attrs":{…}}` here), and the
//! `envelope` column says which ones it left out; a read puts them back. The body read back is
//! byte for byte the line as sent, the stored one stays a JSON object (SQL's `json_extract` on
//! `$.attrs…` reads it unchanged), and the database and every commit's WAL frames are that much
//! smaller (`bench/ingest/README.md` "Envelope columns").
//!
//! Only a leading run is left out, in any order, each member written compactly (`"key":value`
//! then `,` or the closing `}`) and each value exactly what its column gives back: a string
//! column quoted (so a value with an escape is never left out), `ts` as the integer it reads as.
//! Anything else — whitespace, an ISO timestamp, a value the column spells differently, another
//! key — stops the run there, and the rest is stored as sent.

use crate::record::StoredEvent;

/// The envelope members a body may leave out.
const MEMBERS: [&str; 6] = ["event", "id", "game", "env", "session", "ts"];

/// A member's value as its column gives it back (`None`: the column is empty).
fn column<'a>(e: &'a StoredEvent, member: usize, ts: &'a mut itoa::Buffer) -> Option<Value<'a>> {
    let text = match member {
        0 => Some(e.name.as_str()),
        1 => e.id.as_deref(),
        2 => e.game(),
        3 => e.env.as_deref(),
        4 => e.session.as_deref(),
        _ => {
            let ms = e.ts_ms?;
            // Integral and exact in an i64 (and f64): written as that integer.
            if ms.fract() != 0.0 || ms.abs() >= 9_007_199_254_740_992.0 {
                return None;
            }
            return Some(Value::Raw(ts.format(ms as i64)));
        }
    }?;
    Some(Value::Quoted(text))
}

enum Value<'a> {
    /// A string column: its JSON text is the value in quotes.
    Quoted(&'a str),
    /// A number, as written.
    Raw(&'a str),
}

impl Value<'_> {
    /// Whether `text` starts with this value's JSON text; its length then.
    fn prefix_of(&self, text: &[u8]) -> Option<usize> {
        match self {
            Value::Quoted(s) => {
                let n = s.len() + 2;
                let quoted = text.get(..n)?;
                (quoted[0] == b'"' && quoted[n - 1] == b'"' && &quoted[1..n - 1] == s.as_bytes())
                    .then_some(n)
            }
            Value::Raw(s) => text.starts_with(s.as_bytes()).then_some(s.len()),
        }
    }

    fn push_to(&self, out: &mut String) {
        match self {
            Value::Quoted(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Value::Raw(s) => out.push_str(s),
        }
    }
}

/// Which of [`MEMBERS`] `text` starts with, as `"key":` (by its key's first letter, then the
/// rest: this runs for every event a request thread submits).
fn member_at(text: &[u8]) -> Option<usize> {
    let member = match (text.first(), text.get(1), text.get(2)) {
        (Some(b'"'), Some(b'e'), Some(b'v')) => 0,
        (Some(b'"'), Some(b'i'), _) => 1,
        (Some(b'"'), Some(b'g'), _) => 2,
        (Some(b'"'), Some(b'e'), Some(b'n')) => 3,
        (Some(b'"'), Some(b's'), _) => 4,
        (Some(b'"'), Some(b't'), _) => 5,
        _ => return None,
    };
    let key = MEMBERS[member].as_bytes();
    let n = key.len();
    (text.get(1..=n) == Some(key) && text.get(n + 1..n + 3) == Some(b"\":")).then_some(member)
}

/// Bits per member in the `envelope` column: member `i` of [`MEMBERS`] left out `k`-th is
/// `(i + 1) << (BITS * k)`, so the column also says in which order they came.
const BITS: u32 = 3;

/// How a body is stored: `None` as sent, or the `envelope` column's value and where the stored
/// text resumes (see [`pack`]).
pub(crate) type Pack = Option<(i64, usize)>;

/// [`pack`] for each event.
pub(crate) fn pack_all(events: &[StoredEvent]) -> Vec<Pack> {
    events.iter().map(pack).collect()
}

/// The body to store for `e` and its `envelope` column: `None` when no member can be left out
/// (the body is stored as it is); otherwise the column's value and the byte offset in `e.body`
/// where the stored text resumes after `{`.
pub(crate) fn pack(e: &StoredEvent) -> Pack {
    let b = e.body.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut ts = itoa::Buffer::new();
    let (mut at, mut code, mut used, mut count) = (1usize, 0i64, 0u8, 0u32);
    let mut resume = None;
    loop {
        let rest = &b[at..];
        let Some(member) = member_at(rest).filter(|&m| used & (1 << m) == 0) else {
            break;
        };
        let value_at = at + MEMBERS[member].len() + 3;
        let Some(value) = column(e, member, &mut ts) else {
            break;
        };
        let Some(len) = value.prefix_of(&b[value_at..]) else {
            break;
        };
        let end = value_at + len;
        let last = match b.get(end) {
            Some(b',') => false,
            // The whole object: stored as `{}`.
            Some(b'}') if end + 1 == b.len() => true,
            _ => break,
        };
        code |= (member as i64 + 1) << (BITS * count);
        count += 1;
        used |= 1 << member;
        if last {
            resume = Some(end);
            break;
        }
        at = end + 1;
        resume = Some(at);
    }
    resume.map(|at| (code, at))
}

/// `e.body` as stored (`{` and the text from `resume`), into `out`.
pub(crate) fn packed_body(e: &StoredEvent, resume: usize, out: &mut String) {
    out.push('{');
    out.push_str(&e.body[resume..]);
}

/// The line as sent, from the stored body of a row whose `envelope` column is `code` and
/// whose other columns `e` holds. A code the columns cannot fill (a store edited by hand)
/// leaves the body as stored.
pub(crate) fn unpack(e: &StoredEvent, code: i64, stored: &str) -> String {
    if !(1..1 << (BITS as usize * MEMBERS.len())).contains(&code) {
        return stored.to_string();
    }
    let mut ts = itoa::Buffer::new();
    let mut out = String::with_capacity(stored.len() + 128);
    out.push('{');
    let mut rest_code = code;
    while rest_code != 0 {
        let member = (rest_code & ((1 << BITS) - 1)) as usize;
        rest_code >>= BITS;
        let Some(key) = member.checked_sub(1).and_then(|m| MEMBERS.get(m)) else {
            return stored.to_string();
        };
        let Some(value) = column(e, member - 1, &mut ts) else {
            return stored.to_string();
        };
        if out.len() > 1 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        value.push_to(&mut out);
    }
    let rest = stored.strip_prefix('{').unwrap_or(stored);
    if !rest.starts_with('}') {
        out.push(',');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
pub(crate) mod tests;
