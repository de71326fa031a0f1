"""The simulated lvmecp behaves like the real one and models the PLC's dome timer."""

from __future__ import annotations

import asyncio
import copy
import signal
import sys

from actor_support import command, final

from clu.model import Model

from lvmbeat.simulator import SIMULATOR_SCHEMA, DomeState


SIMULATOR_VALIDATOR = Model("lvmecp", copy.deepcopy(SIMULATOR_SCHEMA)).validator


async def ecp_command(client, sim, text: str):
    """One command to the simulator; every reply must pass its schema."""
    sent = await asyncio.wait_for(client.send_command(sim.name, text), 10)
    for reply in sent.replies:
        assert reply.message_code != "e", reply.message
        SIMULATOR_VALIDATOR.validate(reply.message)
    return sent


async def test_the_dome_closes_when_heartbeats_stop(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp(dome_timeout=0.5)
    actor = await start_actor(make_config())
    await command(client, actor.name, "set overwatcher")
    await ecp.arrivals.get()

    # The Overwatcher goes quiet: no more sets, so no more PLC heartbeats.
    await ecp.sim.wait_dome_closed()
    status = final(await ecp_command(client, ecp.sim, "status"))

    assert status["dome"] == "closed"
    assert status["heartbeats_received"] == 1
    assert status["last_heartbeat"] is not None


async def test_a_heartbeat_keeps_the_dome_open_and_restarts_the_plc_timer(
    start_ecp, client
):
    ecp = await start_ecp(dome_timeout=30)

    reply = await ecp_command(client, ecp.sim, "heartbeat")

    assert reply.status.did_succeed
    assert ecp.sim.dome is DomeState.OPEN
    assert ecp.sim.heartbeats_received == 1


async def test_a_failing_plc_fails_heartbeat_as_lvmecp_does(start_ecp, client):
    ecp = await start_ecp(failing=True)

    reply = await ecp_command(client, ecp.sim, "heartbeat")

    assert reply.status.did_fail
    assert final(reply)["error"] == "Failed to set heartbeat."
    assert ecp.sim.heartbeats_received == 0


async def test_mode_switches_the_simulator_to_failing_and_back(start_ecp, client):
    ecp = await start_ecp()

    await ecp_command(client, ecp.sim, "mode --fail")
    failed = await ecp_command(client, ecp.sim, "heartbeat")
    await ecp_command(client, ecp.sim, "mode --succeed")
    succeeded = await ecp_command(client, ecp.sim, "heartbeat")

    assert failed.status.did_fail and succeeded.status.did_succeed


async def test_an_operator_can_reopen_a_closed_dome(start_ecp, client):
    ecp = await start_ecp(dome_timeout=0.1)
    await ecp.sim.wait_dome_closed()

    reply = await ecp_command(client, ecp.sim, "open")

    assert final(reply)["dome"] == "open"


async def test_the_simulated_overwatcher_keeps_lvmecp_fed(
    make_config, start_actor, start_ecp
):
    ecp = await start_ecp()
    actor = await start_actor(make_config({"ecp": {"cutoff": 0}}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lvmbeat", "simulate", "overwatcher",
        "--actor", actor.name, "--interval", "0.1", "--host", "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await ecp.arrivals.get()
        await ecp.arrivals.get()  # a second emission: the sets keep coming
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await process.communicate()

    assert process.returncode == 0, output.decode()
    assert f"{actor.name} set overwatcher: ok" in output.decode()
