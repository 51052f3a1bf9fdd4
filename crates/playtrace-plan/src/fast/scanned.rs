//! The fast path over what core's scanner already read: the members of a line it read as one
//! event (`playtrace_core::scan::Members`), checked against the event's compiled schema without
//! parsing the line again. Core has already decided everything about the line but its attrs
//! (one event, its name, the envelope, contest fields), so only the attrs are checked here, by
//! the same rules as the walk in `mod.rs`: a line it cannot vouch for steps aside to the
//! exact way.

use super::node::{ty, Node};
use super::seed::{scanned_ok, Seen};
use playtrace_core::fields::Scalar;
use playtrace_core::scan::Members;

/// Whether the attrs among `members` are clean against `node` (and raise no warning);
/// `false` also when the fast path will not vouch (a repeated declared attr, two `attrs`).
pub(crate) fn clean_members(node: &Node, members: &Members<'_>) -> bool {
    if node.never || node.types & ty::OBJECT == 0 || node.literals.is_some() {
        return false;
    }
    // An undeclared attr is a warning when the schema declares properties and is open.
    let undeclared_ok = node.additional && node.properties.is_empty();
    let mut seen = Seen::default();
    for m in members.attrs() {
        match node.property(m.key) {
            Some((i, _)) => {
                // A repeated attr: the exact way reads the last value; not worth following.
                if !seen.mark(i) {
                    return false;
                }
                let integer = matches!(m.value, Scalar::Number(_)) && is_integer(m.raw);
                if !scanned_ok(&node.properties[i].1, &m.value, m.raw, integer) {
                    return false;
                }
            }
            None if undeclared_ok => {}
            None => return false,
        }
    }
    // Two `attrs` objects in a native line (the last one counts): left to the exact way.
    if members.native()
        && members
            .all()
            .iter()
            .filter(|m| !m.in_attrs && m.key == "attrs")
            .nth(1)
            .is_some()
    {
        return false;
    }
    seen.all(&node.required)
}

/// A number written as serde_json reads an integer: no fraction, no exponent, not `-0`.
fn is_integer(raw: &str) -> bool {
    raw != "-0" && !raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}
