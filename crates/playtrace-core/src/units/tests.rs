use super::*;
use std::time::Duration;

fn ms(text: &str) -> Result<u64, DurationError> {
    text.parse::<Millis>().map(Millis::as_ms)
}

fn bytes(text: &str) -> Result<u64, SizeError> {
    text.parse::<Bytes>().map(Bytes::as_u64)
}

#[test]
fn parses_every_unit() {
    assert_eq!(ms("800"), Ok(800));
    assert_eq!(ms("800ms"), Ok(800));
    assert_eq!(ms("8s"), Ok(8000));
    assert_eq!(ms("5m"), Ok(300_000));
    assert_eq!(ms("1.5h"), Ok(5_400_000));
    assert_eq!(ms("7d"), Ok(604_800_000));
    assert_eq!(ms(" 2.5 s "), Ok(2500));
    assert_eq!(ms(".5s"), Ok(500));
}

#[test]
fn decimals_are_exact_and_sub_millisecond_fractions_round() {
    // Through f64 this would be 1100.0000000000002.
    assert_eq!(ms("1.1s"), Ok(1100));
    assert_eq!(ms("0.001s"), Ok(1));
    assert_eq!(ms("1.0005s"), Ok(1001));
    assert_eq!(ms("1.0004s"), Ok(1000));
    assert_eq!(ms("0.4"), Ok(0));
    assert_eq!(ms("2.000000000000000000001h"), Ok(7_200_000));
}

#[test]
fn explains_bad_input() {
    assert_eq!(ms(""), Err(DurationError::Empty));
    assert!(matches!(ms("soon"), Err(DurationError::Malformed(_))));
    assert!(matches!(ms("1.2.3s"), Err(DurationError::Malformed(_))));
    assert!(matches!(ms("-5s"), Err(DurationError::Negative(_))));
    assert!(matches!(ms("-"), Err(DurationError::Malformed(_))));
    assert!(matches!(ms("."), Err(DurationError::Malformed(_))));
    let err = ms("6hours").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`6hours` has unknown unit `hours`; use ms, s, m, h or d"
    );
    assert_eq!(
        ms("soon").unwrap_err().to_string(),
        "`soon` is not a duration; write a number with a unit, like 800ms, 8s, 5m, 1.5h or 7d (a bare number is milliseconds)"
    );
}

#[test]
fn out_of_range_durations_are_errors_never_wrapped() {
    let err = ms("999999999999999d").unwrap_err();
    assert_eq!(err, DurationError::TooLarge("999999999999999d".into()));
    assert!(
        err.to_string().contains("`999999999999999d` is too long"),
        "{err}"
    );
    assert_eq!(ms("100000d"), Ok(Millis::MAX.as_ms()));
    assert!(matches!(ms("100000.001d"), Err(DurationError::TooLarge(_))));
    assert!(matches!(
        ms("99999999999999999999999999999999999999999999999"),
        Err(DurationError::TooLarge(_))
    ));
    assert!(Millis::from_ms(Millis::MAX.as_ms() + 1).is_err());
    assert!(Millis::from_ms_f64(1e300).is_err());
    assert!(Millis::from_ms_f64(f64::NAN).is_err());
    assert!(matches!(
        Millis::from_ms_f64(-1.0),
        Err(DurationError::Negative(_))
    ));
    assert!(Millis::from_duration(Duration::MAX).is_err());
    assert_eq!(Millis::from_ms_saturating(u64::MAX), Millis::MAX);
    // The maximum stays exact where durations are added to timestamps.
    assert_eq!(Millis::MAX.as_ms_f64() as u64, Millis::MAX.as_ms());
    assert_eq!(Millis::MAX.as_ms_i64() as u64, Millis::MAX.as_ms());
}

#[test]
fn display_reads_back() {
    for v in [
        0, 1, 999, 1000, 1500, 1234, 60_000, 5_400_000, 86_400_000, 90_061_001,
    ] {
        let m = Millis::from_ms(v).unwrap();
        assert_eq!(m.to_string().parse::<Millis>(), Ok(m), "{m}");
    }
    assert_eq!(Millis::MAX.to_string().parse::<Millis>(), Ok(Millis::MAX));
    assert_eq!(Millis::from_ms(21_600_000).unwrap().to_string(), "6h");
    assert_eq!(Millis::from_ms(1500).unwrap().to_string(), "1.5s");
    assert_eq!(Millis::from_ms(1234).unwrap().to_string(), "1234ms");
    assert_eq!(Millis::from_ms(0).unwrap().to_string(), "0ms");
}

#[test]
fn converts_to_and_from_std_durations() {
    let m: Millis = "1.5s".parse().unwrap();
    assert_eq!(m.to_duration(), Duration::from_millis(1500));
    assert_eq!(
        Millis::from_duration(Duration::from_micros(1_499_600)),
        Ok(m)
    );
    assert_eq!(Duration::from(m), Duration::from_millis(1500));
    assert_eq!(m.as_ms_f64(), 1500.0);
}

#[test]
fn deserializes_from_integers_floats_and_strings() {
    #[derive(serde::Deserialize)]
    struct T {
        a: Millis,
        b: Millis,
        c: Millis,
        size: Bytes,
    }
    let t: T = toml::from_str("a = 8000\nb = \"1.5h\"\nc = 2.5\nsize = \"16MiB\"").unwrap();
    assert_eq!(
        (t.a.as_ms(), t.b.as_ms(), t.c.as_ms(), t.size.as_u64()),
        (8000, 5_400_000, 3, 16 * 1024 * 1024)
    );
    let t: T =
        serde_json::from_str(r#"{"a": "800", "b": 60000, "c": "1s", "size": 1024}"#).unwrap();
    assert_eq!((t.a.as_ms(), t.b.as_ms(), t.c.as_ms()), (800, 60_000, 1000));

    let err = toml::from_str::<T>("a = -1\nb = 1\nc = 1\nsize = 1")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`-1` is negative") && err.contains("line 1"),
        "{err}"
    );
    let err = serde_json::from_str::<Millis>(r#""999999999999999d""#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too long"), "{err}");
    let err = serde_json::from_str::<Millis>("true")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a duration; write a number with a unit"),
        "{err}"
    );
    assert_eq!(
        serde_json::to_string(&Millis::from_ms(5).unwrap()).unwrap(),
        "5"
    );
    assert_eq!(serde_json::to_string(&Bytes::new(7).unwrap()).unwrap(), "7");
}

#[test]
fn written_values_defer_the_error_to_the_caller() {
    let w: Written = toml::from_str::<std::collections::BTreeMap<String, Written>>("x = \"8s\"")
        .unwrap()
        .remove("x")
        .unwrap();
    assert_eq!(w.millis().map(Millis::as_ms), Ok(8000));
    assert_eq!(Written::Integer(42).bytes().map(Bytes::as_u64), Ok(42));
    assert!(matches!(
        Written::Number(-3.0).millis(),
        Err(DurationError::Negative(_))
    ));
    let json = serde_json::json!(1.5);
    assert_eq!(
        Written::try_from(&json)
            .unwrap()
            .millis()
            .map(Millis::as_ms),
        Ok(2)
    );
    assert!(Written::try_from(&serde_json::json!(true)).is_err());
}

#[test]
fn parses_size_units() {
    assert_eq!(bytes("1048576"), Ok(1_048_576));
    assert_eq!(bytes("16MiB"), Ok(16 * 1024 * 1024));
    assert_eq!(bytes("10 GB"), Ok(10_000_000_000));
    assert_eq!(bytes("64k"), Ok(64_000));
    assert_eq!(bytes("1.5kib"), Ok(1536));
    assert_eq!(bytes("0.0005k"), Ok(1));
}

#[test]
fn rejects_nonsense_sizes() {
    assert!(bytes("").is_err());
    assert!(bytes("lots").is_err());
    assert!(bytes("5 parsecs").is_err());
    assert!(bytes("-3").is_err());
    assert_eq!(
        bytes("lots").unwrap_err().to_string(),
        "`lots` is not a size; write a number of bytes with an optional unit, like 65536, 64KiB, 16MiB or 10GB"
    );
    assert!(matches!(bytes("9999999TiB"), Err(SizeError::TooLarge(_))));
    assert!(Bytes::new(u64::MAX).is_err());
    assert!(Bytes::from_f64(f64::INFINITY).is_err());
}

#[test]
fn sizes_display_and_read_back() {
    for v in [
        0,
        1,
        1000,
        1024,
        1536,
        16 * 1024 * 1024,
        10_000_000_000,
        i64::MAX as u64,
    ] {
        let b = Bytes::new(v).unwrap();
        assert_eq!(b.to_string().parse::<Bytes>(), Ok(b), "{b}");
    }
    assert_eq!(Bytes::new(16 * 1024 * 1024).unwrap().to_string(), "16MiB");
    assert_eq!(Bytes::new(1000).unwrap().to_string(), "1000");
}

#[test]
fn formats_compactly() {
    assert_eq!(format_duration_ms(21_600_000.0), "6h");
    assert_eq!(format_duration_ms(8000.0), "8s");
    assert_eq!(format_duration_ms(800.0), "800ms");
    assert_eq!(format_duration_ms(5_400_000.0), "1.5h");
    assert_eq!(format_duration_ms(1234.0), "1234ms");
    assert_eq!(format_duration_ms(1500.0), "1.5s");
}
