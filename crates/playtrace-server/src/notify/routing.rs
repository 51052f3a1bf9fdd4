//! Which receivers an alert goes to and in which group: an alert's labels (Alertmanager's
//! vocabulary: `alertname` is the rule), routes tried in order (the first match wins unless it
//! says `continue`), and group keys written the way Alertmanager writes them.

use crate::alerting::silence::attribute;
use crate::config::{Notify, ReceiverKind, Route};
use playtrace_core::alert::{Category, Severity};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An alert's labels, sorted by name (missing ones are left out, as Alertmanager drops empty
/// labels).
pub(crate) type Labels = BTreeMap<String, String>;

/// The labels of an alert's JSON (`GET /v1/alerts` shape).
pub(crate) fn labels(alert: &Value) -> Labels {
    let mut l = Labels::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            l.insert(k.to_string(), v);
        }
    };
    put("alertname", attribute(alert, "rule"));
    for k in [
        "category", "severity", "game", "env", "session", "hub", "room",
    ] {
        put(k, attribute(alert, k));
    }
    l
}

/// Where one alert goes: a receiver and a group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) receiver: String,
    pub(crate) group_key: String,
    /// The group labels as a JSON object.
    pub(crate) group_labels: String,
    pub(crate) wait_ms: i64,
    pub(crate) interval_ms: i64,
    pub(crate) repeat_ms: i64,
}

/// The routes, ready to match.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    routes: Vec<(Route, String, ReceiverKind, i64)>,
}

/// `{a="x",b="y"}`: how Alertmanager writes a label set in a group key.
fn label_set<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs
        .map(|(k, v)| format!("{k}={}", Value::String(v.to_string())))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn route_key(r: &Route) -> String {
    let category = r.category.map(Category::as_str);
    let severity = r.min_severity.map(Severity::as_str);
    let matchers = [
        ("category", category),
        ("min_severity", severity),
        ("rule", r.rule.as_deref()),
        ("game", r.game.as_deref()),
        ("env", r.env.as_deref()),
    ];
    let set = label_set(matchers.iter().filter_map(|(k, v)| Some((*k, (*v)?))));
    format!("{{}}/{set}")
}

impl Routing {
    /// The config's routes (with none, one catch-all route per receiver).
    pub(crate) fn new(config: &Notify) -> Routing {
        let routes: Vec<Route> = if config.routes.is_empty() {
            config
                .receivers
                .iter()
                .map(|r| Route {
                    receiver: r.name.clone(),
                    category: None,
                    min_severity: None,
                    rule: None,
                    game: None,
                    env: None,
                    group_by: Vec::new(),
                    group_wait: playtrace_core::units::Millis::from_secs_saturating(30),
                    group_interval: playtrace_core::units::Millis::from_secs_saturating(300),
                    repeat_interval: playtrace_core::units::Millis::from_secs_saturating(4 * 3600),
                    continue_matching: true,
                })
                .collect()
        } else {
            config.routes.clone()
        };
        let routes = routes
            .into_iter()
            .filter_map(|r| {
                let receiver = config.receivers.iter().find(|x| x.name == r.receiver)?;
                let key = route_key(&r);
                let resend = receiver.resend_interval.as_ms_i64();
                Some((r, key, receiver.kind, resend))
            })
            .collect();
        Routing { routes }
    }

    /// The receivers and groups of an alert with these labels. An `alertmanager` receiver
    /// groups nothing itself (Alertmanager does): each alert is its own group, sent at once and
    /// again every `resend_interval`.
    pub(crate) fn targets(&self, alert_id: &str, labels: &Labels) -> Vec<Target> {
        let mut out = Vec::new();
        for (r, key, kind, resend) in &self.routes {
            if !matches(r, labels) {
                continue;
            }
            let target = match kind {
                ReceiverKind::Alertmanager => Target {
                    receiver: r.receiver.clone(),
                    group_key: format!("{key}:{{alert={}}}", Value::String(alert_id.into())),
                    group_labels: "{}".into(),
                    wait_ms: 0,
                    interval_ms: 0,
                    repeat_ms: *resend,
                },
                ReceiverKind::Webhook => {
                    let all = r.group_by.iter().any(|l| l == "...");
                    let grouped: Labels = labels
                        .iter()
                        .filter(|(k, _)| all || r.group_by.iter().any(|g| g == *k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let set = label_set(grouped.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    let json: Map<String, Value> = grouped
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect();
                    Target {
                        receiver: r.receiver.clone(),
                        group_key: format!("{key}:{set}"),
                        group_labels: Value::Object(json).to_string(),
                        wait_ms: r.group_wait.as_ms_i64(),
                        interval_ms: r.group_interval.as_ms_i64(),
                        repeat_ms: r.repeat_interval.as_ms_i64(),
                    }
                }
            };
            // One group per receiver and key, even when two routes lead there.
            if !out
                .iter()
                .any(|t: &Target| t.receiver == target.receiver && t.group_key == target.group_key)
            {
                out.push(target);
            }
            if !r.continue_matching {
                break;
            }
        }
        out
    }
}

fn matches(r: &Route, labels: &Labels) -> bool {
    let is = |k: &str, want: Option<&str>| {
        want.is_none_or(|w| labels.get(k).map(String::as_str) == Some(w))
    };
    let severity_ok = r.min_severity.is_none_or(|min| {
        labels
            .get("severity")
            .and_then(|s| Severity::parse(s))
            .is_some_and(|s| s >= min)
    });
    is("category", r.category.map(Category::as_str))
        && is("alertname", r.rule.as_deref())
        && is("game", r.game.as_deref())
        && is("env", r.env.as_deref())
        && severity_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeConfig;
    use serde_json::json;

    fn alert(rule: &str, severity: &str, session: &str) -> Value {
        json!({"id": "al_1", "rule": rule, "category": "moderation", "severity": severity,
               "game": "gf", "env": "prod", "sessionId": session,
               "data": {"roomId": "pier"}})
    }

    fn routing(toml: &str) -> Routing {
        let c = ServeConfig::from_toml(toml, "test").unwrap();
        Routing::new(&c.notify)
    }

    const RECEIVERS: &str = r#"
        [[notify.receivers]]
        name = "pager"
        kind = "webhook"
        url = "http://127.0.0.1:9/p"
        [[notify.receivers]]
        name = "all"
        kind = "webhook"
        url = "http://127.0.0.1:9/a"
    "#;

    #[test]
    fn labels_use_alertmanagers_names() {
        let l = labels(&alert("prohibited-capability", "high", "s1"));
        assert_eq!(l["alertname"], "prohibited-capability");
        assert_eq!(l["session"], "s1");
        assert_eq!(l["room"], "pier");
        assert!(!l.contains_key("hub"), "absent labels are left out");
    }

    #[test]
    fn first_matching_route_wins_unless_it_continues() {
        let r = routing(&format!(
            "{RECEIVERS}
            [[notify.routes]]
            receiver = \"pager\"
            min_severity = \"high\"
            group_by = [\"alertname\"]
            [[notify.routes]]
            receiver = \"all\""
        ));
        let high = r.targets("al_1", &labels(&alert("x", "critical", "s1")));
        assert_eq!(high.len(), 1);
        assert_eq!(high[0].receiver, "pager");
        assert_eq!(
            high[0].group_key,
            "{}/{min_severity=\"high\"}:{alertname=\"x\"}"
        );
        assert_eq!(high[0].group_labels, r#"{"alertname":"x"}"#);
        let low = r.targets("al_1", &labels(&alert("x", "low", "s1")));
        assert_eq!(low[0].receiver, "all");
        assert_eq!(low[0].group_key, "{}/{}:{}", "no group_by: one group");
    }

    #[test]
    fn without_routes_every_receiver_gets_every_alert() {
        let r = routing(RECEIVERS);
        let t = r.targets("al_1", &labels(&alert("x", "info", "s1")));
        assert_eq!(t.len(), 2);
    }
}
