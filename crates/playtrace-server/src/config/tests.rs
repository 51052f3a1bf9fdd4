use super::*;
use playtrace_core::summary::GroupDim;

#[test]
fn empty_config_is_the_defaults() {
    let c = ServeConfig::from_toml("", "test").unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:7070");
    assert_eq!(c.live.windows_ms, vec![300_000.0, 3_600_000.0]);
    assert_eq!(c.limits.max_body.as_u64(), 10 << 20);
    assert!(c.tokens.is_empty());
}

#[test]
fn otlp_and_metrics_sections_read_and_check_their_dimensions() {
    let c = ServeConfig::from_toml("", "test").unwrap();
    assert_eq!(c.otlp.game_attribute, "service.name");
    assert_eq!(c.metrics, MetricsConfig::default());
    let c = ServeConfig::from_toml(
        "[otlp]\ngame_attribute = \"game.id\"\n[metrics]\nbudget_group_by = [\"hub\", \"type\"]\nmax_group_values = 5\n",
        "test",
    )
    .unwrap();
    assert_eq!(c.otlp.game_attribute, "game.id");
    assert_eq!(c.metrics.budget_group_by, [GroupDim::Hub, GroupDim::Type]);
    assert_eq!(c.metrics.max_group_values, 5);
    let err = ServeConfig::from_toml("[metrics]\nbudget_group_by = [\"planet\"]\n", "test")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("metrics.budget_group_by") && err.contains("planet"),
        "{err}"
    );
}

#[test]
fn every_section_reads() {
    let c = ServeConfig::from_toml(
        r#"
listen = "0.0.0.0:9000"
data_dir = "/tmp/pt"
[limits]
max_body = "1MiB"
max_line = 4096
[retention]
max_age = "1d"
max_bytes = "1GB"
interval = "5s"
[contests]
unresolved_after = "90s"
[budgets]
windows = ["1m", 600000]
[[budget]]
metric = "resolution"
percentile = 99
limit_ms = "1s"
[[tokens]]
name = "ci"
secret = "0123456789"
scopes = ["ingest", "read"]
"#,
        "test",
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(
        (c.limits.max_body.as_u64(), c.limits.max_line.as_u64()),
        (1 << 20, 4096)
    );
    assert_eq!(c.retention.max_bytes.as_u64(), 1_000_000_000);
    assert_eq!(c.live.unresolved_after_ms, 90_000.0);
    assert_eq!(c.live.windows_ms, vec![60_000.0, 600_000.0]);
    assert_eq!(c.budgets.set.budgets.len(), 1);
    assert!(c.check_exposure().is_ok());
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (
            "[retention]\nmax_age = \"7 fortnights\"",
            "retention.max_age",
        ),
        ("[limits]\nmax_body = \"lots\"", "limits.max_body"),
        ("listen = \"nowhere\"", "listen"),
        (
            "[[tokens]]\nname = \"x\"\nsecret = \"0123456789\"\nscopes = [\"write\"]",
            "unknown scope `write`",
        ),
        ("[limits]\nmax_bodyy = 1", "unknown field `max_bodyy`"),
    ];
    for (text, want) in cases {
        let err = ServeConfig::from_toml(text, "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
}

#[test]
fn the_documented_example_is_valid() {
    let doc = include_str!("../../../../docs/CONFIG.md");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    std::env::set_var("PLAYTRACE_GAME_TOKEN", "a-long-game-secret");
    let c = ServeConfig::from_toml(&doc[start..end], "docs/CONFIG.md").unwrap();
    let defaults = ServeConfig::default();
    // The example shows the defaults (tokens aside).
    assert_eq!(c.listen, defaults.listen);
    assert_eq!(c.data_dir, defaults.data_dir);
    assert_eq!(c.limits, defaults.limits);
    assert_eq!(c.plan, defaults.plan);
    assert_eq!(c.retention, defaults.retention);
    assert_eq!(c.live.windows_ms, defaults.live.windows_ms);
    assert_eq!(
        c.live.unresolved_after_ms,
        defaults.live.unresolved_after_ms
    );
    assert_eq!(c.live.forget_after_ms, defaults.live.forget_after_ms);
    assert_eq!(c.budgets, defaults.budgets);
    assert_eq!(c.budget_alerting, defaults.budget_alerting);
    assert_eq!(c.stream, defaults.stream);
    assert_eq!(c.http, defaults.http);
    assert!(!c.tokens.is_empty());
}

#[test]
fn open_access_beyond_loopback_is_refused() {
    let c = ServeConfig::from_toml("listen = \"0.0.0.0:7070\"", "t").unwrap();
    let err = c.check_exposure().unwrap_err().to_string();
    assert!(err.contains("without tokens"), "{err}");
}

#[test]
fn parse_threads_is_taken_and_a_count_over_its_cap_is_refused_by_name() {
    let c = ServeConfig::from_toml("[http]\nparse_threads = 4\n", "t").unwrap();
    assert_eq!(c.http.parse_threads, 4);
    assert_eq!(
        ServeConfig::default().http.parse_threads,
        0,
        "sized from the cores"
    );
    let err = ServeConfig::from_toml("[http]\nparse_threads = 65\n", "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("http.parse_threads") && err.contains("65 is over 64"),
        "{err}"
    );
}

#[test]
fn the_duplicate_check_is_auto_unless_a_mode_is_asked_and_a_typo_is_refused_by_name() {
    use playtrace_store::DedupMode;
    assert_eq!(ServeConfig::default().store.dedup, DedupMode::Auto);
    let c = ServeConfig::from_toml("[store]\ndedup = \"auto\"\n", "t").unwrap();
    assert_eq!(c.store.dedup, DedupMode::Auto);
    let c = ServeConfig::from_toml("[store]\ndedup = \"memory\"\n", "t").unwrap();
    assert_eq!(c.store.dedup, DedupMode::Memory);
    let c = ServeConfig::from_toml("[store]\ndedup = \"index\"\n", "t").unwrap();
    assert_eq!(c.store.dedup, DedupMode::Index);
    let err = ServeConfig::from_toml("[store]\ndedup = \"ram\"\n", "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.dedup")
            && err.contains("\"ram\"")
            && err.contains("\"auto\"")
            && err.contains("\"memory\""),
        "{err}"
    );
}
