"""When `set` leads to `lvmecp heartbeat`, and what happens when lvmecp misbehaves."""

from __future__ import annotations

import asyncio

from actor_support import command, final


TWO_CRITICAL = {
    "heartbeats": [
        {"name": "overwatcher", "critical": True},
        {"name": "scheduler", "critical": True},
        {"name": "weather", "critical": False},
    ]
}


def nothing_emitted(actor) -> bool:
    # The emission task is created inside `set` before it replies, so once the reply
    # is in, "no task and no attempt" means the rule said no.
    return not actor.emitter.in_flight and actor.emitter.attempts.count == 0


async def test_it_emits_once_all_critical_heartbeats_are_current(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp()
    actor = await start_actor(make_config(TWO_CRITICAL))

    await command(client, actor.name, "set overwatcher")
    assert nothing_emitted(actor)
    await command(client, actor.name, "set scheduler")
    await ecp.arrivals.get()
    await actor.emitter.attempts.reach(1)
    status = final(await command(client, actor.name, "status"))

    assert ecp.sim.heartbeats_received == 1
    assert status["last_emitted_ecp"] is not None
    assert status["ecp"]["state"] == "ok"


async def test_it_does_not_emit_when_a_critical_heartbeat_is_stale(
    make_config, start_actor, start_ecp, client, clock
):
    await start_ecp()
    actor = await start_actor(make_config(TWO_CRITICAL), clock=clock)

    await command(client, actor.name, "set scheduler")
    clock.advance(actor.beat_config.timeout + 1)
    await command(client, actor.name, "set overwatcher")
    status = final(await command(client, actor.name, "status"))

    assert nothing_emitted(actor)
    assert status["heartbeats"]["scheduler"]["current"] is False
    assert status["last_emitted_ecp"] is None


async def test_non_critical_heartbeats_alone_never_emit(
    make_config, start_actor, start_ecp, client
):
    await start_ecp()
    actor = await start_actor(make_config(TWO_CRITICAL))

    await command(client, actor.name, "set weather")

    assert nothing_emitted(actor)


async def test_a_stale_non_critical_heartbeat_does_not_block(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp()
    actor = await start_actor(make_config(TWO_CRITICAL))

    await command(client, actor.name, "set overwatcher")
    await command(client, actor.name, "set scheduler")

    await ecp.arrivals.get()
    status = final(await command(client, actor.name, "status"))
    assert status["heartbeats"]["weather"]["current"] is False


async def test_it_waits_for_the_cutoff_between_emissions(
    make_config, start_actor, start_ecp, client, clock
):
    ecp = await start_ecp()
    actor = await start_actor(make_config({"ecp": {"cutoff": 10}}), clock=clock)

    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    clock.advance(9)
    await command(client, actor.name, "set overwatcher")
    assert not actor.emitter.in_flight and actor.emitter.attempts.count == 1
    clock.advance(1)
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(2)

    assert ecp.sim.heartbeats_received == 2


async def test_a_timed_out_emission_is_shown_and_last_emitted_does_not_move(
    make_config, start_actor, start_ecp, client
):
    await start_ecp(delay=30)
    actor = await start_actor(make_config({"ecp": {"command_timeout": 0.2}}))

    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    status = final(await command(client, actor.name, "status"))

    assert status["ecp"]["state"] == "timeout"
    assert "did not finish within 0.2 s" in status["ecp"]["last_error"]
    assert status["last_emitted_ecp"] is None
    assert not actor.running_commands  # the timed-out command was forgotten


async def test_a_failing_lvmecp_is_logged_once_and_shown_in_status(
    make_config, start_actor, start_ecp, client, caplog
):
    await start_ecp(failing=True)
    actor = await start_actor(make_config({"ecp": {"cutoff": 0}}))

    for attempt in range(1, 4):
        await command(client, actor.name, "set overwatcher")
        await actor.emitter.attempts.reach(attempt)
    status = final(await command(client, actor.name, "status"))

    assert status["ecp"]["state"] == "failed"
    assert "Failed to set heartbeat." in status["ecp"]["last_error"]
    assert status["last_emitted_ecp"] is None
    logged = [r for r in caplog.records if "last_emitted_ecp stays" in r.getMessage()]
    assert len(logged) == 1
    assert "Failed to set heartbeat." in logged[0].getMessage()


async def test_it_recovers_and_logs_when_lvmecp_succeeds_again(
    make_config, start_actor, start_ecp, client, caplog
):
    ecp = await start_ecp(failing=True)
    actor = await start_actor(make_config({"ecp": {"cutoff": 0}}))

    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    ecp.sim.failing = False
    await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(2)
    status = final(await command(client, actor.name, "status"))

    assert status["ecp"]["state"] == "ok"
    assert status["last_emitted_ecp"] is not None
    assert any("succeeds again" in r.getMessage() for r in caplog.records)


async def test_set_answers_with_lvmecp_absent(make_config, start_actor, client):
    actor = await start_actor(make_config({"ecp": {"cutoff": 0}}))

    first = await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(1)
    second = await command(client, actor.name, "set overwatcher")
    await actor.emitter.attempts.reach(2)
    status = final(await command(client, actor.name, "status"))

    assert first.status.did_succeed and second.status.did_succeed
    assert status["ecp"]["state"] in ("failed", "timeout")
    assert status["last_emitted_ecp"] is None


async def test_a_slow_lvmecp_neither_delays_set_nor_piles_up_emissions(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp(delay=30)
    actor = await start_actor(
        make_config({"ecp": {"cutoff": 0, "command_timeout": 20}})
    )

    await command(client, actor.name, "set overwatcher")
    await ecp.sim.requests.reach(1)
    replies = await asyncio.gather(
        *(command(client, actor.name, "set overwatcher") for _ in range(20))
    )

    # Every set finished while the first emission is still waiting on lvmecp.
    assert all(sent.status.did_succeed for sent in replies)
    assert actor.emitter.in_flight
    assert ecp.sim.requests.count == 1
    assert actor.emitter.attempts.count == 0
