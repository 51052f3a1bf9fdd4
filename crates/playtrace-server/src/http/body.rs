//! Reading a request body: its format from `Content-Type`, gzip, and the size limit
//! (`limits.max_body`, checked before and after decompression).

use crate::http::error::{ApiError, ApiResult};
use crate::ingest::json::BodyFormat;
use axum::body::Body;
use axum::http::{header as h, HeaderMap, StatusCode};
use std::io::Read;

pub(crate) fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let unsupported = |got: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type `{got}` is not supported; send application/x-ndjson (one event per \
                 line) or application/json (an array of events)"
            ),
        )
    };
    let Some(value) = headers.get(h::CONTENT_TYPE) else {
        return Err(unsupported("(none)"));
    };
    let text = value.to_str().unwrap_or("(not text)");
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(BodyFormat::Ndjson)
        }
        "application/json" => Ok(BodyFormat::Json),
        _ => Err(unsupported(text)),
    }
}

fn is_gzip(headers: &HeaderMap) -> ApiResult<bool> {
    match headers.get(h::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("identity") => Ok(false),
        Some(v) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Encoding `{}` is not supported; send gzip or no encoding",
                v.unwrap_or("(not text)")
            ),
        )),
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "request body is over the {limit}-byte limit (limits.max_body, after decompression); \
             send smaller batches or raise limits.max_body"
        ),
    )
}

pub(crate) async fn read_body(limit: u64, headers: &HeaderMap, body: Body) -> ApiResult<Vec<u8>> {
    let gzip = is_gzip(headers)?;
    let declared = headers
        .get(h::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("length limit") {
                too_large(limit)
            } else if text.contains(crate::http::bodies::BODY_IDLE) {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "{text}; send the whole body without pausing (the collector closes the \
                         connection)"
                    ),
                )
            } else {
                ApiError::bad_request(format!("could not read the request body: {text}"))
            }
        })?;
    if !gzip {
        // The collected body's own buffer where nothing else shares it (a body of several
        // chunks is gathered into one fresh buffer): `to_vec` copied every body into a second
        // allocation, and a large one page-faulted all of it in again.
        return Ok(Vec::from(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid gzip ({e}); send it compressed whole, or drop \
                 Content-Encoding: gzip"
            ))
        })?;
    if out.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}
