//! A line's members as the fast reader read them, for a caller that checks every attr (a
//! tracking plan) and would otherwise parse the line a second time.
//!
//! The reader hands each member to a [`Sink`]; monitor's sink ([`NoMembers`]) keeps nothing
//! and compiles away, [`Members`] keeps every key with its value and its text.

use crate::fields::Scalar;

/// One `"key": value` of a line: at its top level, or inside a native line's `attrs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    /// The key as written (a key with escapes makes the fast reader step aside, so there is
    /// never one to unescape).
    pub key: &'a str,
    /// The value; containers are [`Scalar::Object`] / [`Scalar::Array`] (see `raw`).
    pub value: Scalar<'a>,
    /// The value's text, validated JSON: what a caller reads a container from, and how it
    /// tells `1` from `1.0`.
    pub raw: &'a str,
    /// Inside a native line's `attrs` (else at the top level).
    pub in_attrs: bool,
}

/// Every member of one line the fast reader read, in line order (a repeated key is listed
/// each time it occurs).
#[derive(Debug, Default)]
pub struct Members<'a> {
    list: Vec<Member<'a>>,
    native: bool,
}

impl<'a> Members<'a> {
    /// Room for `n` members without growing.
    pub fn with_capacity(n: usize) -> Members<'a> {
        Members {
            list: Vec::with_capacity(n),
            native: false,
        }
    }

    /// Every member, top level and `attrs`, in line order.
    pub fn all(&self) -> &[Member<'a>] {
        &self.list
    }

    /// Whether the line is a native envelope (it has `event`, which wins over `message`).
    pub fn native(&self) -> bool {
        self.native
    }

    /// The event's attrs, as [`crate::event::Event::from_object`] reads them: a native line's
    /// last `attrs` object, or every key of a structured log line but `message`, `level` and
    /// `timestamp`. Only meaningful once the line was read as one event.
    pub fn attrs(&self) -> impl Iterator<Item = &Member<'a>> {
        let native = self.native;
        self.list.iter().filter(move |m| {
            if native {
                m.in_attrs
            } else {
                !m.in_attrs && !matches!(m.key, "message" | "level" | "timestamp")
            }
        })
    }

    /// The same allocation, emptied, for the members of another line (of another lifetime): a
    /// caller reading many lines keeps one instead of allocating one per line.
    pub fn recycle<'b>(mut self) -> Members<'b> {
        self.list.clear();
        Members {
            // Empty (the map never runs), and of one layout: collected in place, into the same
            // allocation.
            list: (self.list.into_iter())
                .map(|_| Member {
                    key: "",
                    value: Scalar::Null,
                    raw: "",
                    in_attrs: false,
                })
                .collect(),
            native: false,
        }
    }

    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.native = false;
    }
}

/// Where the fast reader puts the members it reads, as it reads them: [`Members`] keeps them,
/// monitor's sink keeps nothing, and a caller may act on each member at once (ingest redacts
/// the line in the reader's one pass, `scan_line_sink`).
pub trait Sink<'a> {
    /// Whether the sink takes members at all (when not, the reader skips building them).
    const KEEPS: bool;
    /// One member, after its value was read (a native line's `attrs` members come before the
    /// top-level `attrs` member itself). `false` stops the read: the reader then answers as
    /// for a line it does not vouch for.
    fn member(&mut self, member: Member<'a>) -> bool;
    /// A top-level `attrs` key starts, its value at byte `at` of the line: a later one
    /// replaces the earlier one's members. `false` stops the read, as for [`Sink::member`].
    fn attrs_key(&mut self, at: usize) -> bool;
}

/// Keeps nothing: the reader as monitor runs it.
pub(super) struct NoMembers;

impl<'a> Sink<'a> for NoMembers {
    const KEEPS: bool = false;
    #[inline(always)]
    fn member(&mut self, _member: Member<'a>) -> bool {
        true
    }
    #[inline(always)]
    fn attrs_key(&mut self, _at: usize) -> bool {
        true
    }
}

impl<'a> Sink<'a> for Members<'a> {
    const KEEPS: bool = true;
    #[inline]
    fn member(&mut self, member: Member<'a>) -> bool {
        if !member.in_attrs && member.key == "event" {
            self.native = true;
        }
        self.list.push(member);
        true
    }
    fn attrs_key(&mut self, _at: usize) -> bool {
        if self.list.iter().any(|m| m.in_attrs) {
            self.list.retain(|m| !m.in_attrs);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{scan_line_sink, LineScan};

    /// Records what the reader hands it; stops the read at member `stop`.
    struct Log {
        seen: Vec<(String, bool)>,
        attrs_at: Vec<usize>,
        stop: usize,
    }

    impl<'a> Sink<'a> for Log {
        const KEEPS: bool = true;
        fn member(&mut self, m: Member<'a>) -> bool {
            self.seen.push((m.key.to_string(), m.in_attrs));
            self.seen.len() < self.stop
        }
        fn attrs_key(&mut self, at: usize) -> bool {
            self.attrs_at.push(at);
            true
        }
    }

    #[test]
    fn a_sink_sees_each_member_as_it_is_read_and_may_stop_the_read() {
        // The one-pass redaction relies on this order: `attrs`' members before the `attrs`
        // member itself, `attrs_key` at its `{`, and a `false` ending the read with no event.
        let line = r#"{"event":"a","session":"s","attrs":{"x":1,"hubId":"h"},"ts":5}"#;
        let mut log = Log {
            seen: Vec::new(),
            attrs_at: Vec::new(),
            stop: usize::MAX,
        };
        let scanned = scan_line_sink(line, &mut log, |e, _| e.name.to_string());
        assert_eq!(scanned, Some(Ok(LineScan::Event("a".to_string()))));
        let seen: Vec<(&str, bool)> = log.seen.iter().map(|(k, a)| (k.as_str(), *a)).collect();
        assert_eq!(
            seen,
            [
                ("event", false),
                ("session", false),
                ("x", true),
                ("hubId", true),
                ("attrs", false),
                ("ts", false)
            ]
        );
        assert_eq!(log.attrs_at, [line.find("{\"x\"").unwrap_or_default()]);
        let mut stopped = Log {
            seen: Vec::new(),
            attrs_at: Vec::new(),
            stop: 2,
        };
        let mut called = false;
        assert_eq!(
            scan_line_sink(line, &mut stopped, |_, _| called = true),
            None
        );
        assert!(!called);
        assert_eq!(stopped.seen.len(), 2);
    }

    #[test]
    fn a_recycled_list_is_empty_and_keeps_its_allocation() {
        let line = String::from(r#"{"event":"x"}"#);
        let mut members = Members::with_capacity(32);
        members.member(Member {
            key: &line[2..7],
            value: Scalar::Null,
            raw: &line[9..12],
            in_attrs: false,
        });
        assert!(members.native());
        let (capacity, at) = (members.list.capacity(), members.list.as_ptr() as usize);
        let recycled: Members<'static> = members.recycle();
        drop(line);
        assert!(recycled.all().is_empty() && !recycled.native());
        assert_eq!(recycled.list.capacity(), capacity);
        assert_eq!(recycled.list.as_ptr() as usize, at);
    }
}
