"""The emission rule and heartbeat bookkeeping, with an injected clock and no I/O."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from actor_support import ManualClock

from lvmbeat.config import EcpSection, HeartbeatConfig
from lvmbeat.emitter import CommandFailed, Decision, EmissionState, Emitter, decide
from lvmbeat.heartbeats import HeartbeatRegistry, UnknownHeartbeat


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rule(**changes) -> Decision:
    inputs = dict(
        critical_current=True,
        blocking_down=[],
        in_flight=False,
        last_emitted=None,
        now=NOW,
        cutoff=10,
    )
    inputs.update(changes)
    return decide(**inputs)


def test_the_rule_emits_when_everything_holds():
    assert rule() is Decision.EMIT


@pytest.mark.parametrize(
    ("changes", "decision"),
    [
        ({"critical_current": False}, Decision.STALE),
        ({"blocking_down": ["lco"]}, Decision.NETWORK_DOWN),
        ({"in_flight": True}, Decision.IN_FLIGHT),
        ({"last_emitted": NOW - timedelta(seconds=9.9)}, Decision.CUTOFF),
        ({"last_emitted": NOW - timedelta(seconds=10)}, Decision.EMIT),
    ],
)
def test_each_condition_of_the_rule_can_stop_an_emission(changes, decision):
    assert rule(**changes) is decision


def registry(clock: ManualClock) -> HeartbeatRegistry:
    beats = [
        HeartbeatConfig(name="overwatcher"),
        HeartbeatConfig(name="w", critical=False),
    ]
    return HeartbeatRegistry(beats, timeout=30, clock=clock)


def test_a_heartbeat_is_current_for_less_than_timeout_seconds():
    clock = ManualClock()
    beats = registry(clock)
    beats.set("overwatcher")

    clock.advance(29.9)
    assert beats.critical_current()
    clock.advance(0.1)
    assert not beats.critical_current()
    assert beats.stale_critical() == ["overwatcher"]


def test_non_critical_heartbeats_do_not_count_for_the_rule():
    clock = ManualClock()
    beats = registry(clock)
    beats.set("w")

    assert not beats.critical_current()
    beats.set("overwatcher")
    assert beats.critical_current()


def test_an_unknown_heartbeat_names_itself_and_the_known_ones():
    with pytest.raises(UnknownHeartbeat) as raised:
        registry(ManualClock()).set("ow")

    assert str(raised.value).startswith("Unknown heartbeat 'ow'")
    assert "overwatcher, w" in str(raised.value)


ECP = EcpSection(actor="lvmecp", command="heartbeat", cutoff=0, command_timeout=0.2)


async def test_last_emitted_moves_only_on_success(caplog):
    outcomes = [CommandFailed("lvmecp heartbeat failed: PLC"), None]

    async def send() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    clock = ManualClock()
    emitter = Emitter(ECP, send=send, log=logging.getLogger("test.emit"), clock=clock)

    emitter.consider(critical_current=True, blocking_down=[])
    await emitter.attempts.reach(1)
    assert emitter.state is EmissionState.FAILED and emitter.last_emitted is None
    clock.advance(1)
    emitter.consider(critical_current=True, blocking_down=[])
    await emitter.attempts.reach(2)
    assert emitter.state is EmissionState.OK and emitter.last_emitted == clock.now


async def test_an_emission_that_hangs_times_out_and_the_next_one_can_start():
    release = asyncio.Event()

    async def hang() -> None:
        await release.wait()

    emitter = Emitter(ECP, send=hang, log=logging.getLogger("test.emit"))

    emitter.consider(critical_current=True, blocking_down=[])
    assert emitter.consider(critical_current=True, blocking_down=[]) is (
        Decision.IN_FLIGHT
    )
    await emitter.attempts.reach(1)

    assert emitter.state is EmissionState.TIMEOUT
    assert emitter.consider(critical_current=True, blocking_down=[]) is Decision.EMIT
    await emitter.stop()
    assert not emitter.in_flight
