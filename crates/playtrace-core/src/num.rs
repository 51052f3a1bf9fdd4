//! Numbers as the old JavaScript tools printed them: `1200`, not `1200.0`.
//!
//! Durations and averages are `f64` internally (a log may carry `420.5` ms), but every value that
//! is integral must serialize as a JSON integer so summaries compare equal to the fixtures and
//! read naturally in scripts.

use serde::{Serialize, Serializer};

/// Largest integer an `f64` holds exactly (2^53).
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// An `f64` that serializes as an integer when it is one.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT {
            // Integral and exactly representable: the cast is lossless.
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }
}

/// Formats a number for people: integers without a fraction, others with up to two decimals.
pub fn human(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `Option<f64>` → `Option<Num>`, for serializing optional statistics as `null` or a number.
pub fn opt(v: Option<f64>) -> Option<Num> {
    v.map(Num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_values_serialize_as_integers() {
        assert_eq!(serde_json::to_string(&Num(1200.0)).unwrap(), "1200");
        assert_eq!(serde_json::to_string(&Num(-3.0)).unwrap(), "-3");
        assert_eq!(serde_json::to_string(&Num(2.25)).unwrap(), "2.25");
        assert_eq!(serde_json::to_string(&Num(1e300)).unwrap(), "1e+300");
        assert_eq!(serde_json::to_string(&opt(None)).unwrap(), "null");
    }

    #[test]
    fn human_trims_fractions() {
        assert_eq!(human(9200.0), "9200");
        assert_eq!(human(2.25), "2.25");
        assert_eq!(human(2.5), "2.5");
        assert_eq!(human(1.0 / 3.0), "0.33");
    }
}
