use super::*;

fn s(v: &str) -> Scalar<'_> {
    Scalar::Str(Cow::Borrowed(v))
}

#[test]
fn strings_treat_empty_as_absent() {
    let mut f = ContestFields::default();
    f.set(Field::HubId, s("hub-a")).unwrap();
    f.set(Field::RoomId, s("")).unwrap();
    f.set(Field::ContestId, Scalar::Null).unwrap();
    assert_eq!(f.hub_id.as_deref(), Some("hub-a"));
    assert_eq!(f.room_id, None);
    assert_eq!(f.contest_id, None);
}

#[test]
fn wrong_types_name_the_field() {
    let mut f = ContestFields::default();
    let err = f.set(Field::ArmingDurationMs, s("420")).unwrap_err();
    assert_eq!(
        err.message,
        "field `armingDurationMs` must be a number of milliseconds, 0 or more, got \"420\""
    );
    let err = f
        .set(Field::ParticipantCount, Scalar::Number(2.5))
        .unwrap_err();
    assert!(err
        .message
        .contains("`participantCount` must be a whole number"));
    let err = f.set(Field::HubId, Scalar::Number(3.0)).unwrap_err();
    assert_eq!(err.message, "field `hubId` must be a string, got 3");
    assert!(f
        .set(Field::ResolutionDurationMs, Scalar::Number(-1.0))
        .is_err());
}

#[test]
fn times_accept_epoch_ms_and_rfc3339() {
    let mut f = ContestFields::default();
    f.set(Field::CreatedAt, Scalar::Number(100.0)).unwrap();
    f.set(Field::StartedAt, s("1970-01-01T00:00:00.340Z"))
        .unwrap();
    assert_eq!((f.created_at, f.started_at), (Some(100.0), Some(340.0)));
    let err = f.set(Field::ResolvedAt, s("soon")).unwrap_err();
    assert!(err
        .message
        .starts_with("field `resolvedAt` must be epoch milliseconds or an RFC 3339 time"));
}

#[test]
fn every_field_round_trips_its_key() {
    for key in [
        "hubId",
        "roomId",
        "contestId",
        "contestKey",
        "label",
        "move",
        "type",
        "outcomeTier",
        "error",
        "actorId",
        "sentiment",
        "tone",
        "phase",
        "participantCount",
        "participantCapacity",
        "armingDurationMs",
        "resolutionDurationMs",
        "windowMs",
        "remainingCooldownMs",
        "cooldownMs",
        "messageLength",
        "createdAt",
        "startedAt",
        "resolvedAt",
        "expiredAt",
        "issuedAt",
    ] {
        let field = Field::from_key(key).unwrap();
        assert_eq!(key_name(field), key);
    }
    assert_eq!(Field::from_key("contestid"), None);
    for (i, field) in Field::ALL.iter().enumerate() {
        assert_eq!(*field as usize, i);
    }
    for (key, class) in KEYS {
        assert_eq!(classify_key(key), class, "{key}");
    }
    for other in [
        "",
        "x",
        "ev",
        "events",
        "hubid",
        "hub_id",
        "messages",
        "contestIdx",
        "tS",
        "hubIe",
        "participantCapacitY",
        "resolutionDurationMS",
        "armingDurationMz",
    ] {
        assert_eq!(classify_key(other), slot::OTHER, "{other}");
    }
}
