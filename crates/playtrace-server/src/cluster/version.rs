//! What the NATS server's version means for the cluster's guarantees (docs/CLUSTER.md, "Which
//! NATS server"): the collector logs it once, at its first connection, and `GET /v1/cluster`
//! shows it, so an operator learns of a weaker guarantee from the collector rather than from a
//! lost event.

/// The oldest release whose Raft layer drops a killed stream leader's unacknowledged entries
/// when it restarts (nats-server #5957). Before it, the restarted server could apply such an
/// entry at a sequence its peers gave another message: its consumers then deliver different
/// messages than the others', and collectors following them disagree.
pub(crate) const NO_DIVERGENCE: (u32, u32, u32) = (2, 10, 23);

/// The oldest release that can fsync before acknowledging (`sync_interval: always`).
pub(crate) const SYNC_ALWAYS: (u32, u32, u32) = (2, 10, 0);

/// `major.minor.patch` of a server's version string (`2.10.27`, `v2.11.0-beta.2`); a part that
/// does not read as a number counts as 0.
pub(crate) fn parse(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// What a server of `version` does not guarantee, as warnings to log (empty for a current one).
pub(crate) fn warnings(version: &str) -> Vec<String> {
    let v = parse(version);
    let mut out = Vec::new();
    if v < NO_DIVERGENCE {
        out.push(format!(
            "NATS server {version} can make collectors disagree: a stream leader killed before \
             a quorum stored a message may apply it after restarting, at a sequence its peers \
             gave another message, and a collector reading from it stores that one instead \
             (fixed in nats-server 2.10.23; upgrade the NATS servers, docs/CLUSTER.md)"
        ));
    }
    if v < SYNC_ALWAYS {
        out.push(format!(
            "NATS server {version} writes its file store to disk every 60 s: an acknowledged \
             event is on a majority of the servers' page caches, which survives losing any one \
             process or machine but not a power loss of a majority at once (sync_interval: \
             always needs nats-server 2.10 or later; docs/CLUSTER.md)"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_numbers_and_old_servers_get_their_warnings() {
        assert_eq!(parse("2.10.27"), (2, 10, 27));
        assert_eq!(parse("v2.11.0-beta.2"), (2, 11, 0));
        assert_eq!(parse("2.9"), (2, 9, 0));
        assert_eq!(parse("nonsense"), (0, 0, 0));
        // Debian bookworm's server: both warnings, the disagreement first.
        let old = warnings("2.9.10");
        assert_eq!(old.len(), 2);
        assert!(old[0].contains("2.10.23"), "{}", old[0]);
        assert!(old[1].contains("60 s"), "{}", old[1]);
        // A 2.10 before the fix syncs on request but may still diverge.
        let w = warnings("2.10.22");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("disagree"), "{}", w[0]);
        assert!(warnings("2.10.23").is_empty());
        assert!(warnings("2.10.27").is_empty());
        assert!(warnings("2.11.0").is_empty());
        // Compared as numbers, not text ("2.9" > "2.10" as text).
        assert!(parse("2.9.99") < parse("2.10.0"));
    }
}
