//! Group dimensions beyond hub, room, move and type: `[[dimensions]]` read an attribute of the
//! contest's events (`build` = `attrs.clientVersion`, `variant` = `attrs.variant`), and a
//! cardinality guard (`contest/cardinality.rs`) caps the distinct values each keeps, folding the rest into `other` — so
//! whatever a client sends, grouping by it costs bounded memory.

use crate::summary::{AttrDim, GroupDim};

/// Attribute dimensions at most (a contest keeps one value slot for each).
pub const MAX_ATTR_DIMS: usize = 4;

/// Value slots of a contest's group: hub, room, move, type, then the attribute dimensions.
pub(crate) const GROUP_SLOTS: usize = 4 + MAX_ATTR_DIMS;

/// A contest's interned group values, one per slot.
pub(crate) type Group = [u32; GROUP_SLOTS];

/// Distinct values a dimension keeps by default before folding the rest into `other`.
pub const DEFAULT_MAX_VALUES: usize = 1000;

/// The value that folded values are counted under.
pub const OTHER: &str = "other";

/// One configured dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    /// Its name in `group_by`, reports and metric labels (`build`).
    pub name: String,
    /// The attribute it reads (`clientVersion`): `attrs.<attr>`, or a log line's own key.
    pub attr: String,
    /// Distinct values kept (per window, live) before the rest fold into `other`.
    pub max_values: usize,
}

/// The configured dimensions, in order (at most [`MAX_ATTR_DIMS`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dimensions {
    dims: Vec<Dimension>,
    /// The names, kept for the life of the process: a [`GroupDim`] is `Copy` and names itself.
    names: Vec<&'static str>,
}

impl Dimensions {
    /// Checks names (not a built-in one, not twice, a plain word) and the count.
    pub fn new(dims: Vec<Dimension>) -> Result<Dimensions, String> {
        if dims.len() > MAX_ATTR_DIMS {
            return Err(format!(
                "{} dimensions given; at most {MAX_ATTR_DIMS} can be configured",
                dims.len()
            ));
        }
        let mut names: Vec<&'static str> = Vec::with_capacity(dims.len());
        for d in &dims {
            let name = d.name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "`{name}` is not a dimension name; use letters, digits, `_` or `-`"
                ));
            }
            if GroupDim::parse(name).is_some() || names.contains(&name) {
                return Err(format!(
                    "dimension `{name}` is defined twice (hub, room, move and type are built in)"
                ));
            }
            if d.attr.trim().is_empty() {
                return Err(format!("dimension `{name}` needs the attribute it reads"));
            }
            if d.max_values == 0 {
                return Err(format!(
                    "dimension `{name}`: max_values must be more than 0"
                ));
            }
            // Leaked once per configuration read: a few bytes, and names live as long as the
            // process anyway.
            names.push(Box::leak(name.to_string().into_boxed_str()));
        }
        Ok(Dimensions { dims, names })
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.dims.is_empty()
    }

    /// The configured dimensions.
    pub fn list(&self) -> &[Dimension] {
        &self.dims
    }

    /// The attributes read, in slot order.
    pub fn attrs(&self) -> Vec<String> {
        self.dims.iter().map(|d| d.attr.clone()).collect()
    }

    /// The caps, in slot order.
    pub fn caps(&self) -> Vec<usize> {
        self.dims.iter().map(|d| d.max_values).collect()
    }

    /// A dimension by name: a built-in one or a configured one.
    pub fn parse(&self, text: &str) -> Option<GroupDim> {
        let text = text.trim();
        GroupDim::parse(text).or_else(|| {
            let index = self.names.iter().position(|n| *n == text)?;
            Some(GroupDim::Attr(AttrDim {
                index: index as u8,
                name: self.names[index],
            }))
        })
    }

    /// What `parse` accepts, for error messages (`hub, room, move, type, build`).
    pub fn known(&self) -> String {
        let mut all = vec!["hub", "room", "move", "type"];
        all.extend(self.names.iter().copied());
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(name: &str) -> Dimension {
        Dimension {
            name: name.into(),
            attr: "a".into(),
            max_values: 3,
        }
    }

    #[test]
    fn configured_names_parse_beside_the_built_in_ones() {
        let d = Dimensions::new(vec![dim("build"), dim("variant")]).unwrap();
        assert_eq!(d.parse("room"), Some(GroupDim::Room));
        let v = d.parse("variant").unwrap();
        assert_eq!(v.as_str(), "variant");
        assert_eq!(v.index(), 5);
        assert_eq!(d.parse("planet"), None);
        assert_eq!(d.known(), "hub, room, move, type, build, variant");
        assert!(Dimensions::new(vec![dim("room")]).is_err());
        assert!(Dimensions::new(vec![dim("a"), dim("a")]).is_err());
        assert!(Dimensions::new(vec![dim("a b")]).is_err());
        assert!(Dimensions::new((0..5).map(|i| dim(&format!("d{i}"))).collect()).is_err());
    }

    fn resolved(i: usize, variant: &str, ms: u32) -> String {
        format!(
            r#"{{"event":"telemetry.contest.resolved","attrs":{{"contestId":"c{i}","resolutionDurationMs":{ms},"variant":"{variant}","clientVersion":"1.0.{i}"}}}}"#
        )
    }

    fn dims(max_build: usize) -> Dimensions {
        Dimensions::new(vec![
            Dimension {
                name: "variant".into(),
                attr: "variant".into(),
                max_values: 10,
            },
            Dimension {
                name: "build".into(),
                attr: "clientVersion".into(),
                max_values: max_build,
            },
        ])
        .unwrap()
    }

    #[test]
    fn live_and_whole_run_group_by_an_attribute_alike() {
        use crate::budget::{BudgetSet, Metric};
        use crate::contest::{BudgetQuery, Correlator, CorrelatorOptions, EventMeta, LiveContests};
        use crate::reject::RejectCounts;
        use crate::scan::{BatchOptions, ObservationBatch};
        let d = dims(1000);
        let variant = d.parse("variant").unwrap();
        let text: String = (0..200)
            .map(|i| {
                let (arm, ms) = if i % 2 == 0 {
                    ("a", 100 + i)
                } else {
                    ("b", 300 + i)
                };
                resolved(i as usize, arm, ms) + "\n"
            })
            .collect();
        let mut batch = ObservationBatch::default();
        batch.set_dim_attrs(d.attrs());
        batch.push_lines(text.as_bytes(), BatchOptions::default());

        let mut whole = Correlator::new(CorrelatorOptions {
            include_raw: false,
            group_by: vec![variant],
        })
        .with_dimensions(&d);
        assert_eq!(whole.dim_attrs(), ["variant", "clientVersion"]);
        whole.apply(&batch);
        let summary = whole.finish(&BudgetSet::default(), RejectCounts::default());
        let groups = summary.groups.expect("groups");
        assert_eq!(groups.entries.len(), 2);

        let mut live = LiveContests::new(Default::default()).with_dimension_caps(d.caps());
        live.apply(&batch, |_| {
            Some(EventMeta {
                game: None,
                env: None,
                recv_ms: 1000.0,
            })
        });
        let query = BudgetQuery {
            group_by: vec![variant],
            ..BudgetQuery::default()
        };
        let report = live.budgets(&query, &BudgetSet::default(), 1000.0);
        let lines = report[0].groups.as_ref().expect("groups");
        assert_eq!(lines.len(), 2);
        for (g, l) in groups.entries.iter().zip(lines) {
            assert_eq!(g.key, l.key);
            let offline = g
                .budgets
                .iter()
                .find(|b| b.metric == Metric::Resolution)
                .unwrap();
            let online = l
                .budgets
                .iter()
                .find(|b| b.metric == Metric::Resolution)
                .unwrap();
            assert_eq!(offline.samples, online.samples);
            assert_eq!(offline.value, online.value);
        }
        assert_eq!(
            serde_json::to_value(&lines[0].key).unwrap(),
            serde_json::json!({"variant": "a"})
        );
    }

    #[test]
    fn a_hundred_thousand_builds_fold_into_other_past_the_cap() {
        use crate::budget::BudgetSet;
        use crate::contest::{BudgetQuery, EventMeta, LiveContests};
        use crate::scan::{BatchOptions, ObservationBatch};
        let d = dims(100);
        let build = d.parse("build").unwrap();
        let mut live = LiveContests::new(Default::default()).with_dimension_caps(d.caps());
        for chunk in 0..100 {
            let text: String = (0..1000)
                .map(|i| resolved(chunk * 1000 + i, "a", 5) + "\n")
                .collect();
            let mut batch = ObservationBatch::default();
            batch.set_dim_attrs(d.attrs());
            batch.push_lines(text.as_bytes(), BatchOptions::default());
            live.apply(&batch, |_| {
                Some(EventMeta {
                    game: None,
                    env: None,
                    recv_ms: 1000.0,
                })
            });
        }
        assert_eq!(live.dimension_folded(), [0, 100_000 - 100]);
        // Only the admitted values (and `other`) were ever interned.
        assert!(live.strings_held() < 200, "{}", live.strings_held());
        let query = BudgetQuery {
            group_by: vec![build],
            ..BudgetQuery::default()
        };
        let report = live.budgets(&query, &BudgetSet::default(), 1000.0);
        let groups = report[0].groups.as_ref().expect("groups");
        assert_eq!(groups.len(), 101);
        assert!(groups
            .iter()
            .any(|g| g.key[&build].as_deref() == Some(OTHER)));
    }
}
