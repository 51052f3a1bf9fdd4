//! Time-driven work in cluster mode. What a clock decides is not a function of the log, so it
//! becomes a message of the log: the lease holder (`lease.rs`) runs the budget tick, the alert
//! clock and the cardinality alarm, and publishes what each decided; every node applies the
//! message through its writer, so every store gets the same alert rows (same ids, same
//! sequence numbers) and a new holder picks up from the same state.

use super::message::{self, Body, Candidate, Envelope, Outgoing};
use super::node::Node;
use super::publish::publish_one;
use crate::alerting::budget::BudgetChange;
use crate::alerting::lifecycle::LifecycleOp;
use crate::app::AppState;
use crate::pipeline::Work;
use playtrace_core::alert::AlertCandidate;
use std::sync::Arc;

/// Whether this collector runs the time-driven work now: always on a single node; in a
/// cluster, while it holds the lease.
pub(crate) fn leads(app: &AppState) -> bool {
    app.cluster.get().is_none_or(|n| n.lease.is_leading())
}

/// Which term of holding the lease this is (0 on a single node): state a holder read at the
/// start of one term is stale in the next.
pub(crate) fn term(app: &AppState) -> u64 {
    app.cluster.get().map_or(0, |n| n.lease.term())
}

/// Publishes time-driven work as a message of the log and waits until this node applied it:
/// whether it was stored (`false`: try again next tick). Budget ticks and the alert clock are
/// the lease holder's only (a former holder's late message is skipped everywhere); raised
/// alerts are the holder's only when `holder_only`.
pub(crate) async fn publish(node: &Node, work: Work, holder_only: bool) -> bool {
    let Some(mut body) = body(work) else {
        return false;
    };
    if let Body::Raise {
        holder_only: only, ..
    } = &mut body
    {
        *only = holder_only;
    }
    send(node, body).await
}

/// Announces in the log that this process holds the lease now (`lease.rs`), and waits until
/// this node applied it: its time-driven messages count from there.
pub(crate) async fn announce(node: &Node) -> bool {
    send(
        node,
        Body::Lease {
            holder: node.prefix.clone(),
        },
    )
    .await
}

async fn send(node: &Node, body: Body) -> bool {
    let token = node.token();
    let Ok(payload) = Envelope::encode(token.clone(), body) else {
        return false;
    };
    let message = Outgoing {
        payload,
        msg_id: None,
        events: 0,
    };
    match publish_one(node, &token, message).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(
                status = %e.status(),
                "time-driven work not written to the cluster's log; trying again next tick"
            );
            false
        }
    }
}

fn body(work: Work) -> Option<Body> {
    Some(match work {
        Work::Budget(changes) => Body::Budget {
            changes: changes
                .into_iter()
                .map(|c| message::BudgetChange {
                    status: c.status,
                    fire: c.fire.as_ref().map(candidate),
                    resolve: c.resolve,
                })
                .collect(),
        },
        Work::Raise(alerts) => Body::Raise {
            alerts: alerts
                .into_iter()
                .map(|(game, c)| (game, candidate(&c)))
                .collect(),
            holder_only: false,
        },
        Work::Lifecycle {
            op: LifecycleOp::Maintain { quiet_before_ms },
            ..
        } => Body::Maintain { quiet_before_ms },
        _ => return None,
    })
}

/// The writer's work for a clock's message (`None` for other messages).
pub(crate) fn work(body: Body) -> Option<Work> {
    Some(match body {
        Body::Budget { changes } => Work::Budget(
            changes
                .into_iter()
                .map(|c| BudgetChange {
                    status: c.status,
                    fire: c.fire.map(alert_candidate),
                    resolve: c.resolve,
                })
                .collect(),
        ),
        Body::Raise { alerts, .. } => Work::Raise(
            alerts
                .into_iter()
                .map(|(game, c)| (game, alert_candidate(c)))
                .collect(),
        ),
        Body::Maintain { quiet_before_ms } => Work::Lifecycle {
            op: LifecycleOp::Maintain { quiet_before_ms },
            result: Arc::default(),
        },
        _ => return None,
    })
}

fn candidate(c: &AlertCandidate) -> Candidate {
    Candidate {
        rule: c.rule.clone(),
        category: c.category,
        severity: c.severity,
        reason: c.reason.clone(),
        fingerprint: c.fingerprint.clone(),
        session_id: c.session_id.clone(),
        data: c.data.clone(),
        seeded: c.seeded,
        probe: c.probe,
        created_ms: c.created_ms,
    }
}

fn alert_candidate(c: Candidate) -> AlertCandidate {
    AlertCandidate {
        rule: c.rule,
        category: c.category,
        severity: c.severity,
        reason: c.reason,
        fingerprint: c.fingerprint,
        session_id: c.session_id,
        data: c.data,
        seeded: c.seeded,
        probe: c.probe,
        created_ms: c.created_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use playtrace_core::alert::{Category, Severity};
    use serde_json::json;

    fn sample() -> AlertCandidate {
        AlertCandidate {
            rule: "budget".into(),
            category: Category::Budget,
            severity: Severity::High,
            reason: "budget.breached".into(),
            fingerprint: "budget|arming|p95|1h|".into(),
            session_id: Some("s".into()),
            data: json!({"window": "1h", "value": 2000})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            seeded: false,
            probe: true,
            created_ms: Some(12.5),
        }
    }

    #[test]
    fn clock_work_reads_back_the_same_from_the_log() {
        let work = Work::Budget(vec![BudgetChange {
            status: Some(json!({"status": "breach"})),
            fire: Some(sample()),
            resolve: Some("fp".into()),
        }]);
        let bytes = Envelope::encode("o/1".into(), body(work).unwrap()).unwrap();
        let back: Envelope = serde_json::from_slice(&bytes).unwrap();
        let Some(Work::Budget(changes)) = work_of(back) else {
            panic!("not a budget tick")
        };
        assert_eq!(changes[0].fire.as_ref(), Some(&sample()));
        assert_eq!(changes[0].status, Some(json!({"status": "breach"})));
        assert_eq!(changes[0].resolve.as_deref(), Some("fp"));

        let raise = Work::Raise(vec![("g".into(), sample())]);
        let bytes = Envelope::encode("o/2".into(), body(raise).unwrap()).unwrap();
        let Some(Work::Raise(alerts)) = work_of(serde_json::from_slice(&bytes).unwrap()) else {
            panic!("not a raise")
        };
        assert_eq!(alerts, vec![("g".to_string(), sample())]);

        let maintain = Work::Lifecycle {
            op: LifecycleOp::Maintain {
                quiet_before_ms: 42,
            },
            result: Arc::default(),
        };
        let bytes = Envelope::encode("o/3".into(), body(maintain).unwrap()).unwrap();
        assert!(matches!(
            work_of(serde_json::from_slice(&bytes).unwrap()),
            Some(Work::Lifecycle {
                op: LifecycleOp::Maintain {
                    quiet_before_ms: 42
                },
                ..
            })
        ));
    }

    fn work_of(e: Envelope) -> Option<Work> {
        work(e.body)
    }
}
