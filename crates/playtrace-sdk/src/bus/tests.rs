use super::*;

fn recorder(
    log: &Rc<RefCell<Vec<String>>>,
    tag: &'static str,
) -> impl FnMut(&str, &u32) -> HandlerResult {
    let log = log.clone();
    move |name, p| {
        log.borrow_mut().push(format!("{tag}:{name}:{p}"));
        Ok(())
    }
}

#[test]
fn exact_names_and_one_segment_wildcards() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let _a = bus.subscribe("telemetry.contest.armed", recorder(&log, "exact"));
    let _b = bus.subscribe("telemetry.contest.*", recorder(&log, "star"));
    let _c = bus.subscribe("tutorial:*", recorder(&log, "colon"));
    let _d = bus.subscribe("*.contest.*", recorder(&log, "mid"));
    assert_eq!(bus.emit("telemetry.contest.armed", &1), 3);
    assert_eq!(
        bus.emit("telemetry.contest", &2),
        0,
        "* matches exactly one segment"
    );
    assert_eq!(bus.emit("telemetry.contest.armed.extra", &3), 0);
    assert_eq!(bus.emit("tutorial:step_completed", &4), 1);
    assert_eq!(
        bus.emit("tutorial.step_completed", &5),
        1,
        ". and : both separate"
    );
    assert_eq!(
        *log.borrow(),
        [
            "exact:telemetry.contest.armed:1",
            "star:telemetry.contest.armed:1",
            "mid:telemetry.contest.armed:1",
            "colon:tutorial:step_completed:4",
            "colon:tutorial.step_completed:5"
        ]
    );
}

#[test]
fn priorities_run_lower_first_and_ties_in_subscription_order() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let _a = bus.subscribe_with_priority("e", 5, recorder(&log, "a5"));
    let _b = bus.subscribe_with_priority("e", -1, recorder(&log, "b-1"));
    let _c = bus.subscribe_with_priority("e", 5, recorder(&log, "c5"));
    let _d = bus.subscribe_with_priority("e", 0, recorder(&log, "d0"));
    bus.emit("e", &0);
    assert_eq!(*log.borrow(), ["b-1:e:0", "d0:e:0", "a5:e:0", "c5:e:0"]);
}

#[test]
fn a_once_listener_runs_once_and_never_makes_the_next_one_skip() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let _once = bus.once("e", 0, recorder(&log, "once"));
    let _after = bus.subscribe("e", recorder(&log, "after"));
    bus.emit("e", &1);
    bus.emit("e", &2);
    assert_eq!(*log.borrow(), ["once:e:1", "after:e:1", "after:e:2"]);
}

#[test]
fn dropping_the_handle_unsubscribes() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let sub = bus.subscribe("e", recorder(&log, "x"));
    bus.emit("e", &1);
    drop(sub);
    assert_eq!(bus.emit("e", &2), 0);
    assert_eq!(log.borrow().len(), 1);
    assert_eq!(
        bus.stats("e"),
        NameStats {
            emitted: 2,
            unhandled: 1
        }
    );
    bus.subscribe("e", recorder(&log, "kept")).forever();
    assert_eq!(bus.emit("e", &3), 1);
}

#[test]
fn failing_and_panicking_handlers_are_isolated_and_counted() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let _a = bus.subscribe_with_priority("e", 0, |_, _| Err("nope".into()));
    let _b = bus.subscribe_with_priority("e", 1, |_, _| panic!("handler bug"));
    let _c = bus.subscribe_with_priority("e", 2, recorder(&log, "still"));
    assert_eq!(bus.emit("e", &7), 3);
    assert_eq!(*log.borrow(), ["still:e:7"]);
    assert_eq!((bus.failures(), bus.panics()), (1, 1));
}

#[test]
fn handlers_may_emit_and_subscribe_while_dispatching() {
    let bus = EventBus::<u32>::default();
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_bus = bus.clone();
    let inner_log = log.clone();
    let _a = bus.subscribe("outer", move |_, p| {
        inner_bus.emit("inner", &(p + 1));
        inner_bus
            .subscribe("late", recorder(&inner_log, "late"))
            .forever();
        Ok(())
    });
    let _b = bus.subscribe("inner", recorder(&log, "in"));
    bus.emit("outer", &1);
    bus.emit("late", &9);
    assert_eq!(*log.borrow(), ["in:inner:2", "late:late:9"]);
}

#[test]
fn unhandled_events_are_counted_by_name() {
    let bus = EventBus::<Vec<u8>>::default();
    let big = vec![0u8; 1 << 20];
    for _ in 0..3 {
        bus.emit("nobody.listens", &big);
    }
    assert_eq!(
        bus.all_stats(),
        [(
            "nobody.listens".to_string(),
            NameStats {
                emitted: 3,
                unhandled: 3
            }
        )]
    );
}

fn drain(bus: &EventBus<u32>) -> Vec<String> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let _s = bus.subscribe("*", recorder(&log, "t"));
    bus.tick(usize::MAX);
    let out = log.borrow().clone();
    out
}

#[test]
fn deferred_events_run_by_priority_then_arrival() {
    let bus = EventBus::<u32>::new(10, Overflow::DropNewest);
    bus.defer("a", 1, 5);
    bus.defer("b", 2, 1);
    bus.defer("c", 3, 5);
    bus.defer("d", 4, 0);
    assert_eq!(bus.deferred(), 4);
    assert_eq!(drain(&bus), ["t:d:4", "t:b:2", "t:a:1", "t:c:3"]);
    assert_eq!(bus.deferred(), 0);
}

#[test]
fn overflow_policies_drop_what_they_say_and_count_it() {
    let fill = |policy| {
        let bus = EventBus::<u32>::new(3, policy);
        assert!(bus.defer("x", 1, 1));
        assert!(bus.defer("x", 2, 9));
        assert!(bus.defer("x", 3, 5));
        bus
    };
    let bus = fill(Overflow::DropNewest);
    assert!(!bus.defer("x", 4, 0));
    assert_eq!(
        (bus.dropped(), drain(&bus)),
        (1, vec!["t:x:1".into(), "t:x:3".into(), "t:x:2".into()])
    );

    let bus = fill(Overflow::DropOldest);
    assert!(bus.defer("x", 4, 7));
    assert_eq!(
        (bus.dropped(), drain(&bus)),
        (1, vec!["t:x:3".into(), "t:x:4".into(), "t:x:2".into()])
    );

    let bus = fill(Overflow::DropLowestPriority);
    assert!(
        bus.defer("x", 4, 0),
        "more urgent than the least urgent queued"
    );
    assert!(
        !bus.defer("x", 5, 9),
        "as unurgent as the least urgent: refused"
    );
    assert_eq!(
        (bus.dropped(), drain(&bus)),
        (2, vec!["t:x:4".into(), "t:x:1".into(), "t:x:3".into()])
    );
}
