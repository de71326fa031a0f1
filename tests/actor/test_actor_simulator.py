"""The simulated lvmecp behaves like the real one and models the PLC's dome timer."""

from __future__ import annotations

from actor_support import final

from lvmbeat.simulator import DomeState


async def ecp_command(client, sim, text: str):
    return await client.send_command(sim.name, text)


async def test_the_dome_closes_when_heartbeats_stop(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp(dome_timeout=0.5)
    actor = await start_actor(make_config())
    await client.send_command(actor.name, "set overwatcher")
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
