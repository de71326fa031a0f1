"""Deliberately broken variants of the protocol, one per break the protocol issue
(issue 11) found, each a context manager that patches the real code for its
duration. The explorer must catch every one: that is the evidence it would have
found the breaks, and that it can fail at all.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from explorer import FAMILIES, Family

from lvmbeat_monitor import decide, model, service
from lvmbeat_monitor.decide import Decision


@dataclass(frozen=True)
class Mutant:
    name: str
    break_: str  # the break of issue 11 it brings back
    family: str  # the explorer family that must catch it
    patch: Callable[[], contextmanager]
    # The family narrowed to the events that matter (fewer event seconds, actions),
    # so the test finds the break in about a second; the family in full finds it too,
    # only later in its search.
    narrowed: dict[str, object] = field(default_factory=dict)

    def budget(self) -> Family:
        return replace(FAMILIES[self.family], stop_at_first=True, **self.narrowed)


@contextmanager
def _patched(target: object, name: str, value: object) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


# 1. The first check after the monitor's own downtime alerts on a silence it never
#    watched: no gap rule, so counting_from never moves on the monitor's return.
def young_silence_alerts() -> contextmanager:
    def record_check(state, now, policy):
        return replace(state, last_check=max(state.last_check, now)), False

    return _patched(decide, "_record_check", record_check)


# 2. Checks that retry a notice or find it busy do not record themselves, so a
#    blocked notice makes the next outage look like the monitor was away.
def retries_not_recorded() -> contextmanager:
    original = decide.decide_check

    def decide_check(state, last_seen, now, policy, **options) -> Decision:
        decision = original(state, last_seen, now, policy, **options)
        quiet = decision.outcome not in (
            decide.CheckOutcome.ALERT,
            decide.CheckOutcome.ALL_CLEAR,
            decide.CheckOutcome.STARTED,
        )
        if state is None or not quiet or not (decision.claims or decision.busy):
            return decision
        kept = decision.new_state or state
        kept = replace(kept, last_check=state.last_check)
        return replace(decision, new_state=None if kept == state else kept)

    return _patched(service, "decide_check", decide_check)


# 3. /notify replaces whatever is pending, even a notice another checker has claimed
#    and is sending: the operator's UP can overtake the checker's DOWN.
def notify_replaces_claimed() -> contextmanager:
    original = decide.decide_notify

    def decide_notify(state, *args, **options) -> Decision:
        emptied = replace(state, outbox=()) if state is not None else None
        return original(emptied, *args, **options)

    return _patched(service, "decide_notify", decide_notify)


# 4. A spurious past_due on a watching check restarts the grace.
_PAST_DUE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "past_due", default=False
)


@contextmanager
def past_due_restarts_grace() -> Iterator[None]:
    original_check = service.MonitorService.check
    original_decide = decide.decide_check

    async def check(self, *, past_due: bool = False):
        _PAST_DUE.set(past_due)  # the task's own context: no reset needed
        return await original_check(self, past_due=past_due)

    def decide_check(state, last_seen, now, policy, **options) -> Decision:
        if state is not None and _PAST_DUE.get():
            state = replace(state, counting_from=max(state.counting_from, now))
        return original_decide(state, last_seen, now, policy, **options)

    with _patched(service.MonitorService, "check", check):
        with _patched(service, "decide_check", decide_check):
            yield


# 5. Nothing is retried while monitoring is disabled.
def no_retry_while_disabled() -> contextmanager:
    original = decide.decide_check

    def decide_check(state, last_seen, now, policy, **options) -> Decision:
        decision = original(state, last_seen, now, policy, **options)
        if decision.outcome is not decide.CheckOutcome.DISABLED or not decision.claims:
            return decision
        recorded = replace(state, last_check=max(state.last_check, now))
        return Decision(decision.outcome, recorded)

    return _patched(service, "decide_check", decide_check)


# 6. A claim write that storage applied but answered 412 (the SDK's retry) is not
#    recognised as ours on the re-read: the claimer waits out its own lease.
def own_claim_not_recognised() -> contextmanager:
    def held_by_other(self, now, token) -> bool:
        return (
            self.claim is not None
            and self.claimed_until is not None
            and now < self.claimed_until
        )

    return _patched(model.Delivery, "held_by_other", held_by_other)


MUTANTS = (
    Mutant(
        "young_silence_alerts",
        "false alert after the monitor's own downtime",
        "downtime",
        young_silence_alerts,
        {"spurious_past_due": 0, "event_phases": (1,)},
    ),
    Mutant(
        "retries_not_recorded",
        "a blocked notice turns the next outage into 'the monitor was away'",
        "crash",
        retries_not_recorded,
        # LCO silent, back (the all-clear's claimer crashes), silent again.
        {"toggles": 3, "event_phases": (1,)},
    ),
    Mutant(
        "notify_replaces_claimed",
        "/notify/up racing a re-send leaves a stale DOWN and no all-clear",
        "operator",
        notify_replaces_claimed,
        {"event_phases": (0,)},
    ),
    Mutant(
        "past_due_restarts_grace",
        "a spurious past_due on a watching check restarts the grace",
        "downtime",
        past_due_restarts_grace,
        {"downtimes": 0},
    ),
    Mutant(
        "no_retry_while_disabled",
        "a pending notice is not retried while monitoring is disabled",
        "faults_operator",
        no_retry_while_disabled,
        {"event_phases": (1,), "operator_actions": ("disable",)},
    ),
    Mutant(
        "own_claim_not_recognised",
        "an applied-but-412 claim makes the claimer wait out its own lease",
        "faults",
        own_claim_not_recognised,
        {"fault_kinds": ("applied_412",)},
    ),
)
