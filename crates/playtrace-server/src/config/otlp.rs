//! `[otlp]`: how OTLP/HTTP log records map to events.

use serde::Deserialize;

/// `[otlp]`: how OTLP/HTTP log records map to events (docs/API.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// The resource attribute naming the game (default `service.name`).
    pub game_attribute: String,
}

impl Default for Otlp {
    fn default() -> Self {
        Otlp {
            game_attribute: "service.name".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OtlpFile {
    game_attribute: Option<String>,
}

impl OtlpFile {
    pub(super) fn over(self, mut o: Otlp) -> Otlp {
        if let Some(attribute) = self.game_attribute.filter(|a| !a.trim().is_empty()) {
            o.game_attribute = attribute;
        }
        o
    }
}
