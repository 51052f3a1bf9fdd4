//! Query strings read strictly: a parameter a route does not know is a 400 naming it, not
//! silently ignored (a typo such as `?sesion=` would otherwise answer everything). `token` is
//! left to the token extractor.

use crate::http::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A query string deserialized into `T` (which should `deny_unknown_fields`).
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(format!("query string: {e}")))?;
        let kept: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "token").collect();
        let text = serde_urlencoded::to_string(&kept)
            .map_err(|e| ApiError::bad_request(format!("query string: {e}")))?;
        serde_urlencoded::from_str(&text)
            .map(Params)
            .map_err(|e| ApiError::bad_request(format!("query parameter: {}", describe(&e))))
    }
}

/// serde's "unknown field `x`, expected one of …" in the words of a query string.
fn describe(e: &serde_urlencoded::de::Error) -> String {
    e.to_string()
        .replace("unknown field", "unknown parameter")
        .replace("invalid digit found in string", "expected a number")
}
