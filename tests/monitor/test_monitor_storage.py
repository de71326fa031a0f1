"""The state on a real table (Azurite): conditional updates, and what each use case
costs in storage requests, counted on the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from monitor_support import START, smtp_env

from lvmbeat_monitor.decide import initial_state
from lvmbeat_monitor.model import MonitorState, Notice, NoticeKind, Pending
from lvmbeat_monitor.state import StateChanged


def test_the_state_survives_a_round_trip_through_the_table(monitor_env, make_monitor):
    store = make_monitor(monitor_env).service.store
    notice = Notice(
        id="n1",
        kind=NoticeKind.DOWN,
        decided_at=START,
        last_seen=START - timedelta(seconds=301),
        silent_since=START - timedelta(seconds=301),
        forced=True,
    )
    state = MonitorState(
        started_at=START - timedelta(days=1, microseconds=7),
        enabled=False,
        disabled_until=START + timedelta(minutes=30),
        enabled_at=START,
        resumed_at=START,
        last_check=START,
        active=True,
        outage_last_seen=START - timedelta(seconds=301),
        outage_silent_since=START,
        pending=Pending(notice, "checker-1", START + timedelta(minutes=2), 3),
        last_error="451 try later",
        last_sent_kind=NoticeKind.UP,
        last_sent_at=START,
    )
    store.save(state, None)
    assert store.read().state == state


def test_a_stale_etag_loses_and_the_winner_is_kept(monitor_env, make_monitor):
    store = make_monitor(monitor_env).service.store
    etag = store.save(initial_state(START), None)
    first = replace(initial_state(START), active=True)
    second = replace(initial_state(START), enabled=False)
    store.save(first, etag)
    with pytest.raises(StateChanged):
        store.save(second, etag)
    with pytest.raises(StateChanged):
        store.save(second, None)  # creating twice loses too
    assert store.read().state == first


def test_a_heartbeat_between_a_read_and_a_conditional_write_is_kept(
    monitor_env, make_monitor, clock
):
    monitor = make_monitor(monitor_env)
    store = monitor.service.store
    store.save(initial_state(START), None)
    snapshot = store.read()
    beat = clock.advance(seconds=5)
    store.record_heartbeat(beat)  # lands between the read and the write
    store.save(replace(snapshot.state, last_check=beat), snapshot.etag)
    assert store.read().last_seen == beat


def test_a_heartbeat_is_one_write_and_never_a_read(monitor_env, make_monitor):
    monitor = make_monitor(monitor_env)
    monitor.service.heartbeat()  # the first one also creates the table
    monitor.transport.reset()
    for _ in range(5):
        monitor.service.heartbeat()
    assert (monitor.transport.reads, monitor.transport.writes) == (0, 5)


def test_a_quiet_check_is_one_read_and_no_write(monitor_env, make_monitor, clock):
    monitor = make_monitor(monitor_env)
    monitor.service.check()  # first start: creates the state
    monitor.transport.reset()
    for _ in range(5):
        clock.advance(seconds=10)
        monitor.service.heartbeat()
        monitor.service.check()
    heartbeats = 5
    assert monitor.transport.reads == 5
    assert monitor.transport.writes == heartbeats


def test_status_is_one_read_and_no_write(monitor_env, make_monitor):
    monitor = make_monitor(monitor_env)
    monitor.service.heartbeat()
    monitor.service.check()
    monitor.transport.reset()
    monitor.service.status()
    assert (monitor.transport.reads, monitor.transport.writes) == (1, 0)


def test_what_an_outage_costs_in_storage_requests(
    monitor_env, make_monitor, clock, smtp_server
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service, transport = monitor.service, monitor.transport
    service.heartbeat()
    service.check()
    costs = {}
    for _ in range(12):  # 120 s of silence, a check every 10 s
        clock.advance(seconds=10)
        transport.reset()
        result = service.check()
        costs.setdefault(result.outcome.value, set()).add(
            (transport.reads, transport.writes)
        )
    clock.advance(seconds=10)
    service.heartbeat()
    transport.reset()
    assert service.check().outcome.value == "all_clear"
    costs["all_clear"] = {(transport.reads, transport.writes)}
    assert costs == {
        "quiet": {(1, 0)},
        "watching": {(1, 1)},
        "alert": {(1, 2)},  # claim, then confirm after the send
        "waiting": {(1, 0)},
        "all_clear": {(1, 2)},
    }
