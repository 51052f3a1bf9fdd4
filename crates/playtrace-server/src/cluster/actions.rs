//! Alert actions in cluster mode: ack, resolve and silence of an alert, and silences made or
//! ended, become messages of the log, so every node applies them at the same place in the same
//! order and an alert silenced on one node is silenced on all. The asking node answers with
//! what its own application of the message returned, as a single node answers with its commit.

use super::message::{Action, Body, Envelope, Outgoing, Silence};
use super::node::Node;
use super::publish::publish_one;
use crate::alerting::lifecycle::LifecycleOp;
use crate::alerting::AlertAction;
use crate::http::error::{ApiError, ApiResult};
use crate::pipeline::{ActionResult, Work};
use axum::http::StatusCode;
use playtrace_store::{CommitOutcome, SilenceRow};
use std::sync::{Arc, Mutex};

/// [`crate::http::commit::commit`] in cluster mode: the work as a message of the log.
pub(crate) async fn commit(node: &Node, work: Work) -> ApiResult<CommitOutcome> {
    let (body, result) = match work {
        Work::Action { id, action, result } => (
            Body::Action {
                alert: id,
                action: match action {
                    AlertAction::Resolve => Action::Resolve,
                    AlertAction::Silence { for_ms } => Action::Silence { for_ms },
                    AlertAction::Ack { by, comment } => Action::Ack { by, comment },
                },
            },
            result,
        ),
        Work::Lifecycle {
            op: LifecycleOp::AddSilence(s),
            result,
        } => (
            Body::Silence(Silence {
                id: s.id,
                matchers: s.matchers,
                author: s.author,
                comment: s.comment,
                starts_ms: s.starts_ms,
                ends_ms: s.ends_ms,
                created_ms: s.created_ms,
            }),
            result,
        ),
        Work::Lifecycle {
            op: LifecycleOp::Unsilence(id),
            result,
        } => (Body::Unsilence { id }, result),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_in_cluster_mode",
                "this operation is not available in cluster mode yet (docs/CLUSTER.md lists \
                 what is); run it against a single-node collector",
            ))
        }
    };
    let token = node.token();
    let payload = Envelope::encode(token.clone(), body).map_err(ApiError::internal)?;
    let message = Outgoing {
        payload,
        msg_id: None,
        events: 0,
    };
    let (outcome, answer) = publish_one(node, &token, message).await?;
    *result.lock().unwrap_or_else(|p| p.into_inner()) = answer;
    Ok(outcome)
}

/// The writer's work for an action message, and where its answer will be.
pub(crate) fn work(body: Body) -> Option<(Work, ActionResult)> {
    let result: ActionResult = Arc::new(Mutex::new(None));
    let work = match body {
        Body::Action { alert, action } => Work::Action {
            id: alert,
            action: match action {
                Action::Resolve => AlertAction::Resolve,
                Action::Silence { for_ms } => AlertAction::Silence { for_ms },
                Action::Ack { by, comment } => AlertAction::Ack { by, comment },
            },
            result: result.clone(),
        },
        Body::Silence(s) => Work::Lifecycle {
            op: LifecycleOp::AddSilence(SilenceRow {
                id: s.id,
                matchers: s.matchers,
                author: s.author,
                comment: s.comment,
                starts_ms: s.starts_ms,
                ends_ms: s.ends_ms,
                created_ms: s.created_ms,
            }),
            result: result.clone(),
        },
        Body::Unsilence { id } => Work::Lifecycle {
            op: LifecycleOp::Unsilence(id),
            result: result.clone(),
        },
        Body::Ingest { .. } => return None,
        clock => return super::clock::work(clock).map(|work| (work, result)),
    };
    Some((work, result))
}
