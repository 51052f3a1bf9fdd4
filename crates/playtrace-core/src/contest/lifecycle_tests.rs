use super::*;

#[test]
fn contest_states_read_and_write_as_the_api_spells_them() {
    for s in ContestState::ALL {
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<ContestState>(&json).ok(), Some(s));
        assert_eq!(s.as_str().parse::<ContestState>(), Ok(s));
    }
    let err = "open".parse::<ContestState>().unwrap_err();
    assert!(
        err.starts_with("`open` is not a contest state; use arming"),
        "{err}"
    );
}

#[test]
fn a_packed_lifecycle_keeps_its_durations_and_state() {
    let mut life = Lifecycle {
        resolution_ms: f64::NAN,
        arming_ms: 12.5,
        started: 1_000.0,
        started_src: Source::Field,
        flags: flag::LAUNCHED | flag::RESOLVED,
        participants: 3,
        ..Lifecycle::default()
    };
    let ends = Ends {
        created: 900.0,
        end: 1_640.25,
        created_src: Source::Time,
        end_src: Source::Field,
    };
    let (back, back_ends) = Lifecycle::unpack(&life.pack(&ends));
    assert_eq!(back.durations(Some(&back_ends)), (Some(12.5), Some(640.25)));
    assert_eq!(
        back.state(0.0, 0.0, 1.0),
        life.state(0.0, 0.0, 1.0),
        "state"
    );
    assert_eq!(
        (back.started_src, back_ends.created_src, back_ends.end_src),
        (Source::Field, Source::Time, Source::Field)
    );
    // Participants are not needed by any duration and are not kept.
    life.participants = NONE;
    assert_eq!(back.participants(), life.participants());
}

#[test]
fn a_field_outranks_an_event_time_whatever_the_order() {
    let (mut slot, mut src) = (f64::NAN, Source::Unknown);
    let field = Stamp {
        at: 100.0,
        src: Source::Field,
    };
    let time = Stamp {
        at: 900.0,
        src: Source::Time,
    };
    field.merge_into(&mut slot, &mut src);
    time.merge_into(&mut slot, &mut src);
    assert_eq!((slot, src), (100.0, Source::Field));
    // Among equals the later one wins.
    Stamp { at: 120.0, ..field }.merge_into(&mut slot, &mut src);
    assert_eq!(slot, 120.0);
}
