//! `[cluster]`: several collectors over one NATS JetStream stream (docs/CLUSTER.md). Absent, the
//! collector is the single-node one: its own SQLite log, nothing else to run.

use super::{bytes, invalid, millis, ConfigError};
use playtrace_core::units::{Bytes, Millis, Written};
use serde::Deserialize;

/// `[cluster]`: the JetStream stream every collector of the cluster publishes to and
/// materialises from.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// NATS server URLs (`nats://host:port`); the client fails over between them.
    pub nats: Vec<String>,
    /// The stream (created with `replicas` when missing).
    pub stream: String,
    /// The subject messages are published on (the stream's only subject).
    pub subject: String,
    /// Replicas of the stream: an acknowledged message is on a majority of them.
    pub replicas: usize,
    /// This collector's name: who holds the lease for time-driven work, in logs.
    pub node: String,
    /// How long a publish waits for JetStream's acknowledgement before answering 503.
    pub ack_timeout: Millis,
    /// How long a request waits, after the acknowledgement, for this node to apply it.
    pub apply_timeout: Millis,
    /// JetStream drops a message whose id it saw within this window (a client's retry).
    pub duplicate_window: Millis,
    /// Events of one request go out in messages of at most this many bytes (under the NATS
    /// server's `max_payload`, 1 MiB by default).
    pub max_message: Bytes,
    /// How long the lease for time-driven work and notifications outlives its holder's last
    /// renewal (the holder renews every third of it and stops leading after half of it without
    /// a renewal, so two holders never overlap).
    pub lease_ttl: Millis,
    /// The JetStream key-value bucket holding the lease (default `<stream>_LEASE`).
    pub lease_bucket: String,
}

impl Cluster {
    fn new(nats: Vec<String>) -> Cluster {
        Cluster {
            nats,
            stream: "PLAYTRACE".into(),
            subject: "playtrace.log".into(),
            replicas: 3,
            node: String::new(),
            ack_timeout: Millis::from_secs_saturating(5),
            apply_timeout: Millis::from_secs_saturating(10),
            duplicate_window: Millis::from_secs_saturating(120),
            max_message: Bytes::saturating(768 << 10),
            lease_ttl: Millis::from_secs_saturating(10),
            lease_bucket: "PLAYTRACE_LEASE".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterFile {
    nats: Vec<String>,
    stream: Option<String>,
    subject: Option<String>,
    replicas: Option<usize>,
    node: Option<String>,
    ack_timeout: Option<Written>,
    apply_timeout: Option<Written>,
    duplicate_window: Option<Written>,
    max_message: Option<Written>,
    lease_ttl: Option<Written>,
    lease_bucket: Option<String>,
}

/// A name NATS takes as a stream name or subject token: no spaces, dots (except in subjects),
/// wildcards or `>`.
fn checked_name(key: &str, value: &str, dots: bool) -> Result<String, ConfigError> {
    let bad = value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace() || matches!(c, '*' | '>' | '/' | '\\') || (!dots && c == '.')
        });
    if bad {
        return Err(invalid(
            key,
            format!("`{value}` is not a usable NATS name; use letters, digits, `-` and `_`"),
        ));
    }
    Ok(value.to_string())
}

impl ClusterFile {
    pub(super) fn cluster(self, listen: std::net::SocketAddr) -> Result<Cluster, ConfigError> {
        if self.nats.is_empty() {
            return Err(invalid(
                "cluster.nats",
                "name at least one NATS server, e.g. nats = [\"nats://127.0.0.1:4222\"]",
            ));
        }
        for url in &self.nats {
            if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                return Err(invalid(
                    "cluster.nats",
                    format!("`{url}` is not a NATS URL; write nats://HOST:PORT"),
                ));
            }
        }
        let mut c = Cluster::new(self.nats);
        if let Some(v) = self.stream {
            c.stream = checked_name("cluster.stream", &v, false)?;
        }
        if let Some(v) = self.subject {
            c.subject = checked_name("cluster.subject", &v, true)?;
        }
        if let Some(n) = self.replicas {
            if !(1..=5).contains(&n) {
                return Err(invalid(
                    "cluster.replicas",
                    "JetStream takes 1 to 5 replicas",
                ));
            }
            c.replicas = n;
        }
        c.node = match self.node {
            Some(v) => checked_name("cluster.node", &v, false)?,
            None => format!("collector-{}", listen.port()),
        };
        if let Some(v) = &self.ack_timeout {
            c.ack_timeout = millis(v, "cluster.ack_timeout")?.max(Millis::from_ms_saturating(10));
        }
        if let Some(v) = &self.apply_timeout {
            c.apply_timeout =
                millis(v, "cluster.apply_timeout")?.max(Millis::from_ms_saturating(10));
        }
        if let Some(v) = &self.duplicate_window {
            c.duplicate_window =
                millis(v, "cluster.duplicate_window")?.max(Millis::from_secs_saturating(1));
        }
        if let Some(v) = &self.max_message {
            c.max_message = bytes(v, "cluster.max_message")?;
        }
        if let Some(v) = &self.lease_ttl {
            c.lease_ttl = millis(v, "cluster.lease_ttl")?;
            if c.lease_ttl.as_ms_i64() < 1_000 {
                return Err(invalid(
                    "cluster.lease_ttl",
                    "give it at least 1s (the holder renews every third of it)",
                ));
            }
        }
        c.lease_bucket = match self.lease_bucket {
            Some(v) => checked_name("cluster.lease_bucket", &v, false)?,
            None => format!("{}_LEASE", c.stream),
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServeConfig;

    #[test]
    fn a_cluster_section_is_read_with_defaults_and_absent_means_single_node() {
        let single = ServeConfig::from_toml("", "t").unwrap();
        assert!(single.cluster.is_none());
        let c = ServeConfig::from_toml(
            "listen = \"127.0.0.1:7071\"\n[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\n",
            "t",
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.stream, "PLAYTRACE");
        assert_eq!(c.replicas, 3);
        assert_eq!(c.node, "collector-7071");
        assert_eq!(c.lease_ttl.as_ms_i64(), 10_000);
        assert_eq!(c.lease_bucket, "PLAYTRACE_LEASE");
        let c = ServeConfig::from_toml(
            "[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\nstream = \"GAME\"\nlease_ttl = \"3s\"\n",
            "t",
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.lease_ttl.as_ms_i64(), 3_000);
        assert_eq!(c.lease_bucket, "GAME_LEASE");
    }

    #[test]
    fn bad_cluster_values_name_their_key() {
        for (text, key) in [
            ("[cluster]\nnats = []", "cluster.nats"),
            ("[cluster]\nnats = [\"http://x:1\"]", "cluster.nats"),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nreplicas = 7",
                "cluster.replicas",
            ),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nstream = \"a.b\"",
                "cluster.stream",
            ),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nlease_ttl = \"200ms\"",
                "cluster.lease_ttl",
            ),
            (
                "[cluster]\nnats = [\"nats://x:1\"]\nlease_bucket = \"a b\"",
                "cluster.lease_bucket",
            ),
        ] {
            let e = ServeConfig::from_toml(text, "t").unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
