//! `POST /v1/admin/reload` (scope admin): re-read the configuration file, like SIGHUP.

use crate::app::AppState;
use crate::http::auth::{Admin, Caller};
use crate::http::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use std::sync::Arc;

pub(crate) async fn reload(
    State(app): State<Arc<AppState>>,
    _caller: Caller<Admin>,
) -> ApiResult<Json<Value>> {
    let config = app.config.clone();
    let outcome = tokio::task::spawn_blocking(move || crate::reload::read(&config))
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        Ok(new) => Ok(Json(crate::reload::apply(&app, new))),
        Err(refused) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload_refused",
            refused.to_string(),
        )),
    }
}
