"""`set` and `status` as other actors see them: real broker, real CLU actors."""

from __future__ import annotations

import asyncio

import pytest
from actor_support import command, final

from lvmbeat.actor import ActorStartError


async def test_status_before_any_heartbeat_has_the_contract_shape(
    make_config, start_actor, client
):
    actor = await start_actor(make_config())

    status = final(await command(client, actor.name, "status"))

    assert status["heartbeats"] == {
        "overwatcher": {"current": False, "last_seen": None, "critical": True}
    }
    assert status["last_emitted_ecp"] is None
    assert status["last_emitted_outside"] is None
    assert status["network"] == {"lco": True, "outside": True, "internet": True}
    assert status["ecp"]["state"] == "never"


async def test_set_of_an_unknown_heartbeat_fails_listing_the_known_ones(
    make_config, start_actor, client
):
    config = make_config(
        {
            "heartbeats": [
                {"name": "overwatcher", "critical": True},
                {"name": "scheduler", "critical": False},
            ]
        }
    )
    actor = await start_actor(config)

    sent = await command(client, actor.name, "set overwacher")

    assert sent.status.did_fail
    error = final(sent)["error"]
    assert "'overwacher'" in error
    assert "overwatcher, scheduler" in error


async def test_set_records_the_heartbeat_as_current_with_an_iso_time(
    make_config, start_actor, client
):
    actor = await start_actor(make_config())

    sent = await command(client, actor.name, "set overwatcher")
    status = final(await command(client, actor.name, "status"))

    assert sent.status.did_succeed
    beat = status["heartbeats"]["overwatcher"]
    assert beat["current"] is True
    assert beat["last_seen"].endswith("Z") and len(beat["last_seen"]) == 20


async def test_status_answers_while_an_emission_hangs(
    make_config, start_actor, start_ecp, client
):
    ecp = await start_ecp(delay=30)
    actor = await start_actor(make_config({"ecp": {"command_timeout": 20}}))

    await command(client, actor.name, "set overwatcher")
    await ecp.sim.requests.reach(1)
    status = final(await command(client, actor.name, "status"))

    assert status["ecp"]["in_flight"] is True
    assert status["last_emitted_ecp"] is None


async def test_the_builtin_ping_and_help_still_answer(make_config, start_actor, client):
    actor = await start_actor(make_config())

    ping, help_ = await asyncio.gather(
        command(client, actor.name, "ping"), command(client, actor.name, "help")
    )

    assert ping.status.did_succeed
    assert any("set" in line for line in final(help_)["help"])


async def test_a_second_actor_with_the_same_name_is_refused_with_a_clear_error(
    make_config, start_actor
):
    config = make_config()
    await start_actor(config)

    with pytest.raises(ActorStartError, match="another actor.name"):
        await start_actor(config)
