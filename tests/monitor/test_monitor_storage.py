"""The state on a real table (Azurite): conditional updates, and what each use case
costs in storage requests, counted on the wire."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from monitor_support import START, smtp_env
from test_monitor_report import REPORT

from lvmbeat_local.dev.ports import free_port
from lvmbeat_monitor.decide import initial_state
from lvmbeat_monitor.model import (
    NEVER,
    Delivery,
    MonitorState,
    Notice,
    NoticeKind,
    Outage,
    Pending,
    Receipt,
)
from lvmbeat_monitor.report import parse_report
from lvmbeat_monitor.state import (
    PARTITION,
    STATE_ROW,
    StateChanged,
    StorageUnavailable,
)


async def test_the_state_survives_a_round_trip_through_the_table(
    monitor_env, make_monitor
):
    store = make_monitor(monitor_env).service.store
    notice = Notice(
        id="n1",
        kind=NoticeKind.DOWN,
        decided_at=START,
        last_seen=START - timedelta(seconds=301),
        silent_since=START - timedelta(seconds=301),
        forced=True,
    )
    up = replace(notice, id="n2", kind=NoticeKind.UP, back_at=START, forced=False)
    remind = replace(
        notice, id="n3", kind=NoticeKind.REMIND, outage_id="n1", reminder=2
    )
    state = MonitorState(
        counting_from=START - timedelta(days=1, microseconds=7),
        last_check=START,
        disabled_until=NEVER,
        outage=Outage("n1", START, START - timedelta(seconds=301), None, reminded=2),
        outbox=(
            Pending(
                notice,
                (
                    ("email", Delivery("c1", START + timedelta(minutes=3), 2, "auth")),
                    ("slack", Delivery()),
                ),
            ),
            Pending(up, (("slack", Delivery(attempts=1, error="rate_limited")),)),
            Pending(remind, (("webhook", Delivery()),)),
        ),
        receipts=(
            Receipt("n1", "slack", "1772366400.000100"),
            Receipt("n1", "email", "<lvmbeat.n1@monitor.test>"),
        ),
    )
    await store.save(state, None)
    assert (await store.read()).state == state


async def test_a_stale_etag_loses_and_the_winner_is_kept(monitor_env, make_monitor):
    store = make_monitor(monitor_env).service.store
    etag = await store.save(initial_state(START), None)
    first = replace(initial_state(START), disabled_until=NEVER)
    second = replace(initial_state(START), last_check=START + timedelta(seconds=5))
    await store.save(first, etag)
    with pytest.raises(StateChanged):
        await store.save(second, etag)
    with pytest.raises(StateChanged):
        await store.save(second, None)  # creating twice loses too
    assert (await store.read()).state == first


async def test_a_heartbeat_between_a_read_and_a_conditional_write_is_kept(
    monitor_env, make_monitor, clock
):
    store = make_monitor(monitor_env).service.store
    await store.save(initial_state(START), None)
    snapshot = await store.read()
    beat = clock.advance(seconds=5)
    await store.record_heartbeat(beat)  # lands between the read and the write
    await store.save(replace(snapshot.state, last_check=beat), snapshot.etag)
    assert (await store.read()).last_seen == beat


async def test_a_row_of_the_older_layout_is_replaced_by_the_next_check(
    monitor_env, make_monitor, clock
):
    # 1.0 stored 13 fields and no schema number; no production data exists, so the
    # next check starts afresh over it (counting any silence from then).
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()  # creates the table
    table = monitor.service.store._table
    await table.create_entity(
        {"PartitionKey": PARTITION, "RowKey": STATE_ROW, "enabled": True}
    )
    assert (await monitor.service.store.read()).state is None
    result = await monitor.service.check()
    assert result.outcome.value == "started"
    assert (await monitor.service.store.read()).state == initial_state(clock.now())


async def test_a_heartbeat_is_one_write_and_never_a_read(monitor_env, make_monitor):
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()  # the first one also creates the table
    monitor.transport.reset()
    for _ in range(5):
        await monitor.service.heartbeat()
    assert (monitor.transport.reads, monitor.transport.writes) == (0, 5)


async def test_concurrent_heartbeats_share_writes_and_all_are_stored(
    monitor_env, make_monitor
):
    # A burst (the benchmark's concurrency 10) queued ten storage round trips; the
    # ones that arrive during a write now share the next one.
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()  # creates the table
    monitor.transport.reset()
    answers = await asyncio.gather(*(monitor.service.heartbeat() for _ in range(10)))
    assert (monitor.transport.reads, monitor.transport.writes) == (0, 2)
    assert set(monitor.transport.statuses) == {204}
    assert (await monitor.service.store.read()).last_seen == max(answers)


async def test_heartbeats_that_share_a_write_store_the_latest_report(
    monitor_env, make_monitor
):
    # As a write per heartbeat would leave it: the report of the last to arrive.
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()  # creates the table
    reports = [
        parse_report(json.dumps({**REPORT, "stale": [f"beat{n}"]}).encode())
        for n in range(4)
    ]
    monitor.transport.reset()
    await asyncio.gather(*(monitor.service.heartbeat(r) for r in reports))
    assert monitor.transport.writes == 2  # the first alone, the other three shared
    stored = (await monitor.service.store.read()).last_report
    assert stored is not None and stored.report.stale == ("beat3",)


async def test_heartbeats_that_share_a_write_share_its_failure(
    monitor_env, make_monitor
):
    endpoint = re.search(r"TableEndpoint=http://127.0.0.1:(\d+)", str(monitor_env))
    unreachable = monitor_env["LVMBEAT_STORAGE_CONNECTION_STRING"].replace(
        f":{endpoint.group(1)}/", f":{free_port()}/"
    )
    monitor = make_monitor(
        {**monitor_env, "LVMBEAT_STORAGE_CONNECTION_STRING": unreachable}
    )
    outcomes = await asyncio.gather(
        *(monitor.service.heartbeat() for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(outcome, StorageUnavailable) for outcome in outcomes)
    # Then the next heartbeat writes again (nothing stays stuck after a failure).
    with pytest.raises(StorageUnavailable):
        await monitor.service.heartbeat()


async def test_a_quiet_check_is_one_read_and_one_write(
    monitor_env, make_monitor, clock
):
    # Every check records itself: that record is the evidence that the monitor ran,
    # which an alert needs (docs/monitor.md).
    monitor = make_monitor(monitor_env)
    await monitor.service.check()  # first start: creates the state
    monitor.transport.reset()
    for _ in range(5):
        clock.advance(seconds=10)
        await monitor.service.heartbeat()
        await monitor.service.check()
    heartbeats = 5
    assert monitor.transport.reads == 5
    assert monitor.transport.writes == heartbeats + 5


async def test_a_second_instance_in_the_same_round_does_not_write_again(
    monitor_env, make_monitor, clock
):
    first, second = make_monitor(monitor_env), make_monitor(monitor_env)
    await first.service.heartbeat()
    await first.service.check()
    clock.advance(seconds=10)
    await first.service.check()
    second.transport.reset()
    clock.advance(seconds=2)  # within half a period of the first's record
    await second.service.check()
    assert (second.transport.reads, second.transport.writes) == (1, 0)


async def test_status_is_one_read_and_no_write(monitor_env, make_monitor):
    monitor = make_monitor(monitor_env)
    await monitor.service.heartbeat()
    await monitor.service.check()
    monitor.transport.reset()
    await monitor.service.status()
    assert (monitor.transport.reads, monitor.transport.writes) == (1, 0)


async def test_what_an_outage_costs_in_storage_requests(
    monitor_env, make_monitor, clock, smtp_server
):
    monitor = make_monitor({**monitor_env, **smtp_env(smtp_server)})
    service, transport = monitor.service, monitor.transport
    await service.heartbeat()
    await service.check()
    costs = {}
    for _ in range(12):  # 120 s of silence, a check every 10 s
        clock.advance(seconds=10)
        transport.reset()
        result = await service.check()
        costs.setdefault(result.outcome.value, set()).add(
            (transport.reads, transport.writes)
        )
    clock.advance(seconds=10)
    await service.heartbeat()
    transport.reset()
    assert (await service.check()).outcome.value == "all_clear"
    costs["all_clear"] = {(transport.reads, transport.writes)}
    assert costs == {
        "quiet": {(1, 1)},
        "watching": {(1, 1)},
        # Decide and claim, then settle after the send; the history (history.py)
        # adds the outage's row, a query for rows past retention, and the channel
        # reached. Quiet, watching and waiting checks write no history.
        "alert": {(1 + 1, 2 + 2)},
        "waiting": {(1, 1)},
        "all_clear": {(1, 2 + 1)},  # + the outage's end in its history row
    }


def test_a_row_written_before_reminders_and_threads_keeps_its_outage_and_outbox():
    """The fields issue 13 added are optional in the row: an outage declared by the
    previous release is still ended, and its pending notice still delivered."""
    from lvmbeat_monitor.state import entity_from_state, state_from_entity

    notice = Notice("n1", NoticeKind.DOWN, START, START, START)
    older = MonitorState(
        counting_from=START,
        last_check=START,
        outage=Outage("n1", START, START, START),
        outbox=(Pending(notice, (("email", Delivery()),)),),
    )
    entity = entity_from_state(older)
    assert "receipts" not in entity and "outage_reminded" not in entity
    outbox = json.loads(entity["outbox"])
    for pending in outbox:
        del pending["notice"]["outage_id"], pending["notice"]["reminder"]
    entity["outbox"] = json.dumps(outbox)
    read = state_from_entity(entity)
    assert read == older
    assert read.outage.reminded == 0 and read.receipts == ()
