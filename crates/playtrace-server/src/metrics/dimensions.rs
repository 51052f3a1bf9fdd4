//! `playtrace_dimension_folded_total`: contest events whose `[[dimensions]]` value was past the
//! dimension's `max_values` and was grouped as `other`.

use crate::metrics::{header, sample};
use playtrace_core::dims::Dimensions;

/// Renders the counter, one sample per configured dimension (nothing when none is configured).
pub(crate) fn render(out: &mut String, dimensions: &Dimensions, folded: &[u64]) {
    if dimensions.is_empty() {
        return;
    }
    header(
        out,
        "playtrace_dimension_folded_total",
        "counter",
        "Contest events whose [[dimensions]] value was past max_values and was grouped as other.",
    );
    for (i, d) in dimensions.list().iter().enumerate() {
        let n = folded.get(i).copied().unwrap_or(0);
        sample(
            out,
            "playtrace_dimension_folded_total",
            &[("dimension", d.name.as_str())],
            n as f64,
        );
    }
}
