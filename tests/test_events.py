from appliance.events import EventBus


def test_subscribers_get_the_events_of_their_topics_and_subtopics():
    bus = EventBus()
    with bus.subscribe(["ci"]) as ci, bus.subscribe() as everything:
        bus.publish("stack", {"n": 1})
        bus.publish("ci.build", {"n": 2})
        bus.publish("cinema", {"n": 3})
        assert ci.get(0.1).data == {"n": 2}
        assert ci.get(0.01) is None
        assert [everything.get(0.1).topic for _ in range(3)] == ["stack", "ci.build", "cinema"]


def test_a_reconnecting_subscriber_gets_what_it_missed():
    bus = EventBus()
    first = bus.publish("lamp", {"colour": "RED"})
    bus.publish("lamp", {"colour": "GREEN"})
    with bus.subscribe(["lamp"], last_event_id=first.id) as sub:
        assert sub.get(0.1).data == {"colour": "GREEN"}
        assert sub.get(0.01) is None


def test_a_subscriber_that_stops_reading_is_dropped_not_kept_forever():
    bus = EventBus(subscriber_queue=3)
    sub = bus.subscribe()
    for n in range(10):
        bus.publish("t", {"n": n})
    assert sub.dropped
    assert bus.subscriber_count == 0
    received = []
    while (event := sub.get(0.01)) is not None:
        received.append(event.data["n"])
    assert received == [1, 2]


def test_closing_a_subscription_unsubscribes():
    bus = EventBus()
    with bus.subscribe():
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0


def test_events_serialise_as_server_sent_events():
    event = EventBus().publish("ci.build", {"id": 7, "status": "passed"})
    assert event.to_sse() == 'id: 1\nevent: ci.build\ndata: {"id":7,"status":"passed"}\n\n'


def test_the_history_is_bounded_in_bytes_as_well_as_in_count():
    bus = EventBus(history=500, history_bytes=10_000)
    first = bus.publish("t", {"padding": "x" * 3000})
    for _ in range(9):
        bus.publish("t", {"padding": "x" * 3000})
    kept = bus.history_after(0)
    assert 1 <= len(kept) <= 3
    assert sum(len(event.sse) for event in kept) <= 10_000
    assert first not in kept


def test_only_listeners_of_a_topic_count_as_listening():
    bus = EventBus()
    with bus.subscribe(["ci.hook"]):
        assert bus.listening_to("ci.hook")
        assert not bus.listening_to("stack")
    with bus.subscribe():
        assert bus.listening_to("stack")
