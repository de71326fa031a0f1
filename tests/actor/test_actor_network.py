"""Network checks: unprivileged probes of loopback, hysteresis, blocking emission."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from actor_support import LocalListener, command, final
from hypothesis import given
from hypothesis import strategies as st

from lvmbeat.config import CheckMethod, NetworkSection
from lvmbeat.network import (
    CheckState,
    NetworkMonitor,
    ProbeFailed,
    probe_icmp,
    probe_tcp,
)


def test_a_check_goes_down_only_after_n_consecutive_failures():
    state = CheckState(failures_to_down=3)

    flips = [state.record("refused"), state.record("refused")]
    assert state.up and flips == [False, False]
    assert state.record("refused") is True
    assert not state.up


def test_one_success_brings_a_check_back_up_and_resets_the_count():
    state = CheckState(failures_to_down=2)
    state.record("refused")
    state.record("refused")

    assert state.record(None) is True
    assert state.up and state.consecutive_failures == 0
    state.record("refused")
    assert state.up  # one failure after a success is not enough


async def test_tcp_probe_succeeds_on_a_listener_and_fails_once_it_closes():
    listener = LocalListener()
    await listener.open()
    await probe_tcp("127.0.0.1", listener.port, timeout=1)
    await listener.close()

    with pytest.raises(ProbeFailed, match=f"127.0.0.1:{listener.port}"):
        await probe_tcp("127.0.0.1", listener.port, timeout=1)


def _ping_group_allows_us() -> bool:
    low, high = map(
        int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split()
    )
    return any(low <= gid <= high for gid in os.getgroups() + [os.getgid()])


async def test_icmp_probe_of_loopback_runs_unprivileged_or_says_what_to_allow():
    if _ping_group_allows_us():
        await probe_icmp("127.0.0.1", timeout=1)
    else:
        with pytest.raises(ProbeFailed, match="ping_group_range"):
            await probe_icmp("127.0.0.1", timeout=1)


async def test_monitor_logs_down_and_up_once_each(
    lco_listener, outside_listener, caplog
):
    config = NetworkSection(
        interval=0.05,
        failures_to_down=2,
        block_emission=["lco"],
        checks={
            "lco": {"method": "tcp", "host": "127.0.0.1", "port": lco_listener.port},
            "outside": {
                "method": CheckMethod.TCP,
                "host": "127.0.0.1",
                "port": outside_listener.port,
            },
        },
    )
    monitor = NetworkMonitor(config, log=logging.getLogger("test.network"))

    await lco_listener.close()
    for _ in range(4):
        await monitor.probe_all()
    assert monitor.blocking_down() == ["lco"]
    await lco_listener.open()
    await monitor.probe_all()
    await monitor.probe_all()

    assert monitor.is_up("lco") and monitor.is_up("outside")
    messages = [r.getMessage() for r in caplog.records if r.name == "test.network"]
    assert sum("is down after 2 failed probes" in m for m in messages) == 1
    assert sum("is up again" in m for m in messages) == 1


async def wait_until_state(actor, name: str, up: bool) -> None:
    """Await probe rounds until check ``name`` has the wanted state."""
    while actor.network.is_up(name) is not up:
        await actor.network.rounds.reach(actor.network.rounds.count + 1)


async def test_a_blocking_check_going_down_stops_emission_and_coming_back_restores_it(
    make_config, start_actor, start_ecp, client, lco_listener
):
    ecp = await start_ecp()
    actor = await start_actor(make_config({"ecp": {"cutoff": 0}}))

    await lco_listener.close()
    await wait_until_state(actor, "lco", up=False)
    await command(client, actor.name, "set overwatcher")
    status = final(await command(client, actor.name, "status"))
    assert actor.emitter.attempts.count == 0 and not actor.emitter.in_flight
    assert status["network"]["lco"] is False
    assert status["network_checks"]["lco"]["last_error"]

    await lco_listener.open()
    await wait_until_state(actor, "lco", up=True)
    await command(client, actor.name, "set overwatcher")
    await ecp.arrivals.get()
    await actor.emitter.attempts.reach(1)
    status = final(await command(client, actor.name, "status"))
    assert status["network"]["lco"] is True
    assert status["last_emitted_ecp"] is not None


async def test_a_check_not_listed_in_block_emission_is_reported_but_does_not_block(
    make_config, start_actor, start_ecp, client, outside_listener
):
    ecp = await start_ecp()
    actor = await start_actor(make_config({"network": {"block_emission": ["lco"]}}))

    await outside_listener.close()
    await wait_until_state(actor, "outside", up=False)
    await command(client, actor.name, "set overwatcher")
    await ecp.arrivals.get()
    await actor.emitter.attempts.reach(1)
    status = final(await command(client, actor.name, "status"))

    assert status["network"]["outside"] is False
    assert status["network"]["internet"] is False  # what lvmecp reads
    assert status["last_emitted_ecp"] is not None


@given(results=st.lists(st.booleans(), max_size=40), failures_to_down=st.integers(1, 5))
def test_a_check_is_down_exactly_when_the_last_n_probes_all_failed(
    results, failures_to_down
):
    state = CheckState(failures_to_down=failures_to_down)
    for ok in results:
        state.record(None if ok else "refused")

    trailing_failures = 0
    for ok in reversed(results):
        if ok:
            break
        trailing_failures += 1
    assert state.up is (trailing_failures < failures_to_down)
