//! The S3-compatible object storage writer (AWS, MinIO, Garage, s3s, Backblaze) through the
//! `object_store` crate. Path-style addressing, so local servers work without DNS tricks. The
//! crate's own retries are off: the durable queue owns retries, otherwise a stopped server
//! would stall an export for minutes inside one write.

use crate::aws_profile::Profile;
use crate::{Artifact, WriteError, WriteFuture, Writer};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Where and how to connect. Unset values come, as with the AWS CLI, from the standard
/// variables (`AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` [+ `AWS_SESSION_TOKEN`],
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`), then from the
/// shared config and credentials files (`AWS_PROFILE`, see [`crate::aws_profile`]).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Endpoint URL (`http://127.0.0.1:9000`); AWS itself when unset.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// `endpoint` is the whole truth (`None`: AWS itself): the environment and the profile
    /// are not asked for one. A retry of a queued entry sets it.
    pub fixed_endpoint: bool,
    /// Giving up on a TCP (and TLS) connection after this long (default 3 s).
    pub connect_timeout: Option<Duration>,
    /// Giving up on an answer that sends nothing for this long, e.g. an endpoint that accepts
    /// connections and never answers (default 5 s). Retries are the queue's job.
    pub read_timeout: Option<Duration>,
}

/// [`S3Options::connect_timeout`] when unset.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// [`S3Options::read_timeout`] when unset.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes artifacts as objects under `s3://BUCKET/PREFIX/`.
pub struct S3Writer {
    store: Arc<dyn ObjectStore>,
    url: String,
    prefix: String,
    destination: S3Destination,
}

/// Where an S3 writer writes, resolved: what the retry queue stores with each entry so that
/// `export retry` writes exactly there, whatever its own flags and environment say. Holds no
/// credentials: those are read again (environment, profile) when the retry runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// `s3://BUCKET/PREFIX`.
    pub url: String,
    /// The endpoint URL; `None` is AWS itself.
    pub endpoint: Option<String>,
    /// The region the requests were signed for.
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), as every S3 writer uses.
    pub path_style: bool,
}

impl S3Destination {
    /// Reads a destination stored by [`Writer::destination`]; `None` when `text` is not one
    /// (a queue entry written before destinations were stored holds only the writer's id).
    pub fn parse(text: &str) -> Option<S3Destination> {
        if !text.starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// The endpoint as people and error messages name it.
    pub fn endpoint_label(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

/// Splits `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{url}` is not an s3:// URL; write s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("`{url}` has no bucket; write s3://BUCKET/PREFIX"));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl S3Writer {
    /// A writer for `s3://BUCKET/PREFIX`.
    pub fn new(url: &str, options: &S3Options) -> Result<S3Writer, String> {
        let (bucket, prefix) = parse_url(url)?;
        // TLS goes through rustls with ring (see the workspace Cargo.toml); reqwest needs the
        // process-wide provider chosen before it builds a client. An error only means another
        // caller installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let profile = Profile::from_environment();
        let endpoint = options
            .endpoint
            .clone()
            .filter(|_| !options.fixed_endpoint)
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or(profile.endpoint_url.clone());
        let endpoint = if options.fixed_endpoint {
            options.endpoint.clone()
        } else {
            endpoint
        };
        let region = options
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or(profile.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let (endpoint_used, region_used) = (endpoint.clone(), region.clone());
        // A key pair is taken whole from one place, never half from each.
        let credentials = match (&options.access_key_id, &options.secret_access_key) {
            (Some(k), Some(s)) => Some((k.clone(), s.clone(), None)),
            _ => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(k), Some(s)) => Some((k, s, env("AWS_SESSION_TOKEN"))),
                _ => match (profile.access_key_id, profile.secret_access_key) {
                    (Some(k), Some(s)) => Some((k, s, profile.session_token)),
                    _ => None,
                },
            },
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(region)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 0,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(
                        options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                    )
                    .with_read_timeout(options.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT))
                    .with_timeout(Duration::from_secs(60)),
            );
        if let Some((key, secret, token)) = credentials {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = token {
                builder = builder.with_token(token);
            }
        }
        if let Some(e) = endpoint {
            builder = builder
                .with_allow_http(e.starts_with("http://"))
                .with_endpoint(e);
        }
        let store = builder
            .build()
            .map_err(|e| format!("cannot configure {url}: {e}"))?;
        let url = format!(
            "s3://{bucket}{}",
            if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            }
        );
        Ok(S3Writer {
            store: Arc::new(store),
            destination: S3Destination {
                url: url.clone(),
                endpoint: endpoint_used,
                region: region_used,
                path_style: true,
            },
            url,
            prefix,
        })
    }

    /// The writer a queued entry was meant for: its stored endpoint and region win over
    /// `options`' (which give the timeouts and, when set, the credentials).
    pub fn from_destination(
        destination: &S3Destination,
        options: &S3Options,
    ) -> Result<S3Writer, String> {
        let options = S3Options {
            endpoint: destination.endpoint.clone(),
            fixed_endpoint: true,
            region: Some(destination.region.clone()),
            ..options.clone()
        };
        S3Writer::new(&destination.url, &options)
    }

    /// The resolved destination.
    pub fn resolved(&self) -> &S3Destination {
        &self.destination
    }
}

/// An object store error in words a person can act on: a refused connection or a timeout
/// names the endpoint, instead of the client's "Generic S3 error: error sending request".
fn describe(e: &object_store::Error, endpoint: &str) -> WriteError {
    let transient = match classify(e) {
        WriteError::Transient(m) => m,
        permanent => return permanent,
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut chain = String::new();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return WriteError::Transient(format!(
                        "connection refused (endpoint {endpoint})"
                    ))
                }
                std::io::ErrorKind::TimedOut => {
                    return WriteError::Transient(format!("timed out (endpoint {endpoint})"))
                }
                _ => {}
            }
        }
        chain.push_str(&err.to_string().to_ascii_lowercase());
        chain.push(' ');
        source = err.source();
    }
    let with = |what: &str| WriteError::Transient(format!("{what} (endpoint {endpoint})"));
    if chain.contains("connection refused") {
        with("connection refused")
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        with("cannot resolve the endpoint's host name")
    } else if chain.contains("timed out") || chain.contains("timeout") {
        with("timed out")
    } else if chain.contains("connection reset") || chain.contains("connection closed") {
        with("the connection was closed by the server")
    } else {
        WriteError::Transient(format!("{transient} (endpoint {endpoint})"))
    }
}

/// Sorts an object store error into retry-worthy or not.
pub fn classify(e: &object_store::Error) -> WriteError {
    use object_store::Error as E;
    let text = e.to_string();
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } | E::InvalidPath { .. } => {
            WriteError::Permanent(text)
        }
        E::NotFound { .. } => WriteError::Permanent(format!("{text} (does the bucket exist?)")),
        _ => match http_status(&text) {
            // Client errors will not pass on retry, except timeouts and throttling.
            Some(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                WriteError::Permanent(text)
            }
            _ => WriteError::Transient(text),
        },
    }
}

/// The HTTP status in an object_store error message (`... status code: 403 Forbidden ...`).
fn http_status(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

impl Writer for S3Writer {
    fn id(&self) -> String {
        self.url.clone()
    }

    fn destination(&self) -> String {
        serde_json::to_string(&self.destination).unwrap_or_else(|_| self.url.clone())
    }

    fn concurrency(&self) -> usize {
        32
    }

    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            // The same name rules as the filesystem: no escaping the prefix.
            crate::fs::target(std::path::Path::new("/"), &artifact.name)?;
            let key = if self.prefix.is_empty() {
                artifact.name.clone()
            } else {
                format!("{}/{}", self.prefix, artifact.name)
            };
            let path = ObjectPath::parse(&key)
                .map_err(|e| WriteError::Permanent(format!("object key `{key}`: {e}")))?;
            let payload = PutPayload::from(artifact.bytes.as_ref().clone());
            self.store
                .put(&path, payload)
                .await
                .map_err(|e| describe(&e, &self.destination.endpoint_label()))?;
            Ok(format!("{}/{}", self.url, artifact.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_permanent_and_the_rest_transient() {
        let generic = |m: &str| object_store::Error::Generic {
            store: "S3",
            source: m.to_string().into(),
        };
        let kind = |m: &str| matches!(classify(&generic(m)), WriteError::Permanent(_));
        assert!(kind(
            "Server returned non-2xx status code: 400 Bad Request: InvalidBucketName"
        ));
        assert!(kind("Server returned non-2xx status code: 403 Forbidden"));
        assert!(!kind(
            "Server returned non-2xx status code: 429 Too Many Requests"
        ));
        assert!(!kind(
            "Server returned non-2xx status code: 503 Service Unavailable"
        ));
        assert!(!kind("error sending request: Connection refused"));
    }

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://qa/runs/7/").unwrap(),
            ("qa".into(), "runs/7".into())
        );
        assert_eq!(parse_url("s3://qa").unwrap(), ("qa".into(), String::new()));
        assert!(parse_url("s3:///x").unwrap_err().contains("no bucket"));
        assert!(parse_url("gs://x").unwrap_err().contains("s3://"));
    }
}
