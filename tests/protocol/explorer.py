"""An exhaustive explorer of the alert protocol, over the REAL MonitorService and
decide.py.

Why: the promise (one alert and one all-clear per outage, never a false one) must hold
across racing checkers, crashes at any step, storage and mail faults, the monitor's
own downtime and operator requests. Sampled tests cannot show that; this explores
every interleaving within stated budgets, to a fixpoint.

How:
- Time moves in ticks of 1 s. A *world* (frozen, canonical) is everything at a tick
  boundary: the stored state and heartbeat, LCO's truth, the budgets left and the
  ghost facts the invariants need. No task lives across ticks (a check takes well
  under a second), so a world is plain data.
- BFS over worlds (the shortest counterexample comes first). From each world, every
  environment event of this tick (LCO stops or starts beating, the monitor goes down
  or comes back with or without `past_due`, an operator request, a spurious
  `past_due`) is one branch.
- Within a tick, the actors (each checker's `check()`, the heartbeat, the operator's
  request) run as asyncio tasks on one event loop. Every store operation and every
  channel send is a future the explorer resolves, with its outcome (ok, or a fault:
  read error; save not applied, applied but 412, applied but error; send refused,
  accepted but reported failed; or the actor crashing there). A DFS by re-execution
  explores each order and outcome, pruned by sleep sets (operations that commute
  are not tried in both orders).
- Times are stored relative to "now" and ages are capped (every time older than
  CAP keeps only its order), claim tokens of finished invocations are all alike,
  notice ids are renamed in order: so the BFS reaches a fixpoint.

The invariants (checked on every step; see docs/monitor.md "How the protocol is
checked") and the cool-down at the end of each path are below.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from lvmbeat_monitor.decide import CLOCK_ALLOWANCE
from lvmbeat_monitor.errors import DeliveryError, ErrorKind
from lvmbeat_monitor.model import (
    NEVER,
    Delivery,
    MonitorState,
    Notice,
    NoticeKind,
    Outage,
    Pending,
)
from lvmbeat_monitor.service import MonitorService
from lvmbeat_monitor.settings import load_settings
from lvmbeat_monitor.state import Snapshot, StateChanged, StorageUnavailable


# --- the parameters ----------------------------------------------------------------

PERIOD = 10  # s between checks
GRACE = 20  # LVMBEAT_SEND_EMAIL_AFTER
LEASE = 25  # claim lease: waiting out one's own lease is a visible delay
SKEW = int(CLOCK_ALLOWANCE.total_seconds())
CHANNELS = ("email", "slack")
T0 = datetime(2030, 1, 1, tzinfo=UTC)  # "now" of every world (times are relative)

# The bounds the invariants state (seconds), once the last disturbance is over.
ALERT_AFTER_SILENCE = GRACE + PERIOD + SKEW + 1  # alert after LCO went silent
ALERT_AFTER_RESTART = GRACE + 2 * PERIOD + SKEW + 1  # after enable/downtime/fault
CLEAR_AFTER_RETURN = PERIOD + SKEW + 1  # all-clear after LCO is back
AFTER_CRASH = LEASE + PERIOD + SKEW + 1  # a crashed claimer's lease ran out
# Ages beyond this are all alike (every bound above is below it).
AGE_CAP = max(ALERT_AFTER_RESTART, AFTER_CRASH) + 1
# Stored times older than this before now keep only their order: every rule compares
# a stored time with now only against the grace or the gap (plus the clock skew).
CAP = timedelta(seconds=GRACE + SKEW + 2)
# A last check older than this means "the monitor was away" to every checker.
GAP_CAP = timedelta(seconds=PERIOD * 3 / 2 + 2 * SKEW + 1)

READ_FAULTS = ("read_error",)
SAVE_FAULTS = ("not_applied", "applied_412", "applied_error")
SEND_FAULTS = ("refused", "accepted_failed")
# Faults the service must absorb on its own (re-read, recognise its write): they do
# not excuse a late alert. The others fail a check or a send, like a short outage.
ABSORBED = {"not_applied", "applied_412", "applied_error"}

OPERATOR_ACTIONS = (
    "enable",
    "disable",
    "disable?minutes=1",
    "notify/up",
    "notify/up?force",
    "notify/down",
    "notify/down?force",
)


class Violation(AssertionError):
    """An invariant failed; the message holds the shortest trace that breaks it."""


# --- the families (budgets) ----------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One exploration budget: which actors and faults, and how many of each."""

    name: str
    skews: tuple[int, ...] = (0, 1)  # one checker per entry: its clock's offset
    toggles: int = 2  # times LCO stops or starts beating
    faults: int = 0
    fault_kinds: tuple[str, ...] = READ_FAULTS + SAVE_FAULTS + SEND_FAULTS
    crashes: int = 0
    downtimes: int = 0  # monitor downtimes (each ends with or without past_due)
    spurious_past_due: int = 0
    operator: int = 0
    operator_actions: tuple[str, ...] = OPERATOR_ACTIONS
    # Seconds after a scheduled check at which the environment may act (None: any).
    # Within a second of a check covers the races with it and the edges of the grace
    # (a silence one second shorter or longer, with the clock skew); the seconds
    # between behave as one of these.
    event_phases: tuple[int, ...] | None = (PERIOD - 1, 0, 1)
    cool_down: bool = True
    stop_at_first: bool = True


FAMILIES = {
    family.name: family
    for family in (
        Family("racing", skews=(0, 1, -1), toggles=1),
        Family("faults", faults=1, toggles=1),
        Family("crash", crashes=1, toggles=1),
        Family("downtime", downtimes=1, spurious_past_due=1, toggles=1),
        # One checker, its clock a second ahead of the operator's instance.
        Family("operator", skews=(1,), operator=1, toggles=1),
        Family(
            "faults_operator",
            skews=(1,),
            faults=1,
            fault_kinds=READ_FAULTS + SEND_FAULTS,
            operator=1,
            toggles=1,
            event_phases=(1,),
        ),
    )
}


# --- the world at a tick boundary ----------------------------------------------------


@dataclass(frozen=True)
class Ghost:
    """What one channel's people have been told: the invariants' memory."""

    last_id: str | None = None
    last_kind: NoticeKind | None = None
    # A crash or fault happened since the last delivery: the same notice again is a
    # repeat the protocol allows (claim, send, crash before confirm).
    excused: bool = False
    earlier: tuple[str, ...] = ()  # ids delivered before the last one, still stored


@dataclass(frozen=True)
class World:
    phase: int  # seconds since the last scheduled check
    state: MonitorState | None
    last_seen: datetime | None
    lco_up: bool
    lco_age: int  # ticks since LCO last stopped or started beating
    quiet_for: int  # seconds since the last heartbeat LCO sent before this tick
    fault_age: int  # since a fault that fails a check or a send, or downtime
    crash_age: int
    op_age: int  # since an operator request or a tick spent disabled
    down: bool  # the monitor is not running
    past_due_next: bool  # its next check is told past_due
    toggles: int
    faults: int
    crashes: int
    downtimes: int
    spurious: int
    operator: int
    ghosts: tuple[tuple[str, Ghost], ...]


def initial_world(family: Family) -> World:
    return World(
        phase=0,
        state=None,
        last_seen=None,
        lco_up=True,
        lco_age=AGE_CAP,
        quiet_for=AGE_CAP,
        fault_age=AGE_CAP,
        crash_age=AGE_CAP,
        op_age=AGE_CAP,
        down=False,
        past_due_next=False,
        toggles=family.toggles,
        faults=family.faults,
        crashes=family.crashes,
        downtimes=family.downtimes,
        spurious=family.spurious_past_due,
        operator=family.operator,
        ghosts=tuple((name, Ghost()) for name in CHANNELS),
    )


# --- the in-memory store, channels and clock -----------------------------------------


@dataclass
class Op:
    """One pending store operation or send, waiting for the explorer's choice."""

    actor: str
    seq: int
    kind: str  # read, save, heartbeat, send
    target: str  # "state", "heartbeat" or a channel name
    future: asyncio.Future

    @property
    def key(self) -> tuple[str, int]:
        return (self.actor, self.seq)

    def writes(self) -> set[str]:
        return set() if self.kind == "read" else {self.target}

    def touches(self) -> set[str]:
        return {"state", "heartbeat"} if self.kind == "read" else {self.target}


def independent(a: Op, b: Op) -> bool:
    """Two operations of different actors commute unless one writes what the other
    touches."""
    if a.actor == b.actor:
        return False
    return not (a.writes() & b.touches() or b.writes() & a.touches())


class Tick:
    """Everything shared by the actors during one tick: memory, pending operations,
    the trace, the faults used and the invariants' ghosts."""

    def __init__(self, world: World, explorer: Explorer) -> None:
        self.world = world
        self.explorer = explorer
        self.state = world.state
        self.etag: str | None = None if world.state is None else "e0"
        self.etags = itertools.count(1)
        self.last_seen = world.last_seen
        self.pending: list[Op] = []
        self.seqs: dict[str, int] = {}
        self.trace: list[str] = []
        self.faults_used = 0
        self.resetting_fault = False
        self.crashes_used = 0
        self.ghosts = dict(world.ghosts)
        self.violation: str | None = None
        # What each actor has observed: its behaviour is a function of this alone.
        self.seen: dict[str, list[object]] = {}

    def observe(self, actor: str, what: object) -> None:
        self.seen.setdefault(actor, []).append(what)

    def key(self) -> tuple:
        """Everything the rest of the tick depends on (the DFS's state cache)."""
        return (
            self.etag,
            self.last_seen,
            tuple(sorted(self.ghosts.items())),
            self.faults_used,
            self.crashes_used,
            self.resetting_fault,
            self.violation is not None,
            tuple(sorted((a, tuple(log)) for a, log in self.seen.items())),
        )

    def pend(self, actor: str, kind: str, target: str) -> Op:
        seq = self.seqs.get(actor, 0)
        self.seqs[actor] = seq + 1
        op = Op(actor, seq, kind, target, asyncio.get_running_loop().create_future())
        self.pending.append(op)
        return op

    def fail(self, message: str) -> None:
        if self.violation is None:
            self.violation = message
            self.trace.append(f"!! {message}")

    # the invariants that look at one step

    def check_decided(self, before: MonitorState | None, after: MonitorState) -> None:
        """I2: a DOWN a check decides needs LCO really silent for the grace."""
        known = {p.notice.id for p in before.outbox} if before else set()
        for pending in after.outbox:
            notice = pending.notice
            if notice.id in known or notice.kind is not NoticeKind.DOWN:
                continue
            if notice.forced:
                continue
            # Heartbeats lost while the monitor was down for less than a check
            # period are invisible to it (no check missed): they count as silence.
            silent = self.world.quiet_for
            recorded = self.world.last_seen
            lost = 0 if recorded is None else (T0 - recorded).seconds - silent
            if silent + min(max(lost, 0), PERIOD) < GRACE - SKEW:
                self.fail(
                    f"I2 false alert: DOWN {notice.id} decided while LCO was silent "
                    f"for {silent} s only (grace {GRACE} s)"
                )

    def delivered(self, channel: str, notice: Notice) -> None:
        """I1, I4 and stale repeats, at the moment people get a notice."""
        ghost = self.ghosts[channel]
        forced = " (forced)" if notice.forced else ""
        what = f"{notice.kind.value.upper()} {notice.id}{forced}"
        self.trace.append(f"   {channel} receives {what}")
        if notice.id == ghost.last_id:
            if not ghost.excused:
                self.fail(f"I1 {channel}: {what} delivered twice with no fault between")
        elif notice.id in ghost.earlier:
            self.fail(f"I1 {channel}: stale {what} delivered again after a newer one")
        elif not notice.forced:
            if notice.kind is NoticeKind.DOWN and ghost.last_kind is NoticeKind.DOWN:
                self.fail(f"I1 {channel}: a second DOWN ({what}) with no UP between")
            if notice.kind is NoticeKind.UP and ghost.last_kind is not NoticeKind.DOWN:
                self.fail(f"I4 {channel}: {what} without a DOWN before it")
        earlier = ghost.earlier
        if ghost.last_id is not None and ghost.last_id != notice.id:
            earlier = (*earlier, ghost.last_id)
        self.ghosts[channel] = Ghost(notice.id, notice.kind, False, earlier)

    def disturbed(self, resets: bool) -> None:
        """A crash or fault: a repeat of what was last delivered is now allowed."""
        self.ghosts = {
            name: replace(ghost, excused=True) for name, ghost in self.ghosts.items()
        }
        self.resetting_fault = self.resetting_fault or resets


class MemoryStore:
    """StateStore with Azure Table's ETag rules, one facade per actor, every call a
    future the explorer resolves (with a fault or not)."""

    def __init__(self, tick: Tick, actor: str) -> None:
        self.tick = tick
        self.actor = actor

    async def read(self) -> Snapshot:
        op = self.tick.pend(self.actor, "read", "state")
        outcome = await op.future
        tick = self.tick
        if outcome == "read_error":
            raise StorageUnavailable("explorer: read error")
        tick.observe(self.actor, (tick.etag, tick.last_seen))
        return Snapshot(tick.state, tick.etag, tick.last_seen)

    async def record_heartbeat(self, at: datetime) -> None:
        op = self.tick.pend(self.actor, "heartbeat", "heartbeat")
        await op.future
        self.tick.last_seen = at

    async def save(self, state: MonitorState, etag: str | None) -> str:
        op = self.tick.pend(self.actor, "save", "state")
        outcome = await op.future
        tick = self.tick
        if outcome == "not_applied":
            raise StorageUnavailable("explorer: write not applied")
        if etag != tick.etag:
            tick.observe(self.actor, "lost")
            raise StateChanged("explorer: ETag mismatch")
        tick.check_decided(tick.state, state)
        tick.state, tick.etag = state, f"e{next(tick.etags)}"
        tick.observe(self.actor, tick.etag)
        if outcome == "applied_412":
            raise StateChanged("explorer: applied, answered 412")
        if outcome == "applied_error":
            raise StorageUnavailable("explorer: applied, answered with an error")
        return tick.etag

    async def close(self) -> None:
        return None


class FakeChannel:
    """Records, in order, what its people were told; the explorer decides whether
    each send goes through, fails, or goes through and is reported failed."""

    def __init__(self, tick: Tick, actor: str, name: str) -> None:
        self.tick = tick
        self.actor = actor
        self.name = name

    async def deliver(
        self, notice: Notice, now: datetime, *, thread: str | None = None
    ) -> None:
        op = self.tick.pend(self.actor, "send", self.name)
        outcome = await op.future
        if outcome == "refused":
            raise DeliveryError("explorer: refused", ErrorKind.UNREACHABLE)
        self.tick.delivered(self.name, notice)
        if outcome == "accepted_failed":
            self.tick.disturbed(resets=True)
            raise DeliveryError(
                "explorer: accepted, reported failed", ErrorKind.TIMEOUT
            )

    async def send_test(self, now: datetime) -> None:
        return None

    async def close(self) -> None:
        return None


class SkewedClock:
    def __init__(self, skew: int) -> None:
        self.moment = T0 + timedelta(seconds=skew)

    def now(self) -> datetime:
        return self.moment


# --- running one tick ----------------------------------------------------------------


def run_until_idle(loop: asyncio.AbstractEventLoop) -> None:
    """Run every callback scheduled with call_soon (and those they schedule) until
    none is left: then every task waits on an explorer future. `_ready` is the
    loop's private queue of such callbacks; there is no public way to ask."""
    while True:
        loop.call_soon(loop.stop)
        loop.run_forever()
        if not loop._ready:  # type: ignore[attr-defined]
            return


@dataclass(frozen=True)
class Event:
    """What the environment does at the start of a tick (at most one thing)."""

    kind: str = "none"  # none, toggle, down, up, operator, past_due
    detail: str = ""

    def __str__(self) -> str:
        return self.kind if not self.detail else f"{self.kind} {self.detail}"


Choice = tuple[str, int, str]  # actor, seq, outcome


@dataclass
class Node:
    enabled: list[Op]
    sleep: set[tuple[str, int]]
    todo: list[tuple[Op, str]]
    chosen: tuple[Op, str] | None = None
    done: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class Leaf:
    world: World | None  # None: pruned (sleep-set blocked)
    trace: list[str]
    violation: str | None


class Explorer:
    def __init__(self, family: Family, *, log_level: int = logging.CRITICAL) -> None:
        self.family = family
        self.loop = asyncio.new_event_loop()
        self.settings = load_settings(
            {
                "LVMBEAT_SEND_EMAIL_AFTER": str(GRACE),
                "LVMBEAT_CHECK_SCHEDULE": f"*/{PERIOD} * * * * *",
            }
        )
        logging.getLogger("lvmbeat_monitor").setLevel(log_level)
        self.runs = 0
        self.transitions = 0

    def close(self) -> None:
        self.loop.close()

    # one actor per task

    def _service(self, tick: Tick, actor: str, skew: int) -> MonitorService:
        ids = (f"{actor}.n{i}" for i in itertools.count(1))
        tokens = (f"{actor}.t{i}" for i in itertools.count(1))
        return MonitorService(
            self.settings,
            MemoryStore(tick, actor),  # type: ignore[arg-type]
            clock=SkewedClock(skew),
            channels={name: FakeChannel(tick, actor, name) for name in CHANNELS},  # type: ignore[misc]
            make_id=lambda: next(ids),
            make_token=lambda: next(tokens),
            claim_lease=timedelta(seconds=LEASE),
        )

    def _start(self, tick: Tick, world: World, event: Event) -> dict[str, asyncio.Task]:
        tasks: dict[str, asyncio.Task] = {}

        async def guarded(actor: str, work) -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the actor's call failed
                tick.trace.append(f"   {actor} ends with {type(error).__name__}")

        def start(actor: str, work) -> None:
            tasks[actor] = self.loop.create_task(guarded(actor, work))

        if world.lco_up and not world.down:
            start("hb", MemoryStore(tick, "hb").record_heartbeat(T0))
        if not world.down and world.phase == 0:
            past_due = world.past_due_next or event.kind == "past_due"
            for index, skew in enumerate(self.family.skews):
                actor = f"c{index}"
                start(actor, self._service(tick, actor, skew).check(past_due=past_due))
        if event.kind == "operator":
            start("op", self._operate(self._service(tick, "op", 0), event.detail))
        return tasks

    @staticmethod
    async def _operate(service: MonitorService, action: str) -> None:
        if action == "enable":
            await service.enable()
        elif action == "disable":
            await service.disable(None)
        elif action.startswith("disable?minutes="):
            await service.disable(int(action.split("=")[1]))
        else:
            kind = NoticeKind.UP if "/up" in action else NoticeKind.DOWN
            await service.notify(kind, force=action.endswith("?force"))

    def _outcomes(self, tick: Tick, op: Op, lowest: bool) -> list[str]:
        family = self.family
        outcomes = ["ok"]
        if tick.world.faults > tick.faults_used:
            kinds = {
                "read": READ_FAULTS,
                "save": SAVE_FAULTS,
                "send": SEND_FAULTS,
            }.get(op.kind, ())
            outcomes += [k for k in kinds if k in family.fault_kinds]
        if tick.world.crashes > tick.crashes_used and op.actor != "hb" and lowest:
            outcomes.append("crash")
        return outcomes

    def run_tick(
        self,
        world: World,
        event: Event,
        nodes: list[Node],
        cache: dict[tuple, frozenset] | None = None,
    ) -> Leaf:
        """Run one tick, following the choices of `nodes`, then extending them with
        first choices; the leaf is the next world (None if the sleep sets pruned it)."""
        self.runs += 1
        tick = Tick(world, self)
        tasks = self._start(tick, world, event)
        depth = 0
        try:
            while True:
                run_until_idle(self.loop)
                tick.pending = [op for op in tick.pending if not op.future.done()]
                live = [
                    op for op in tick.pending if not tasks[_task_of(op.actor)].done()
                ]
                tick.pending = live
                if not live:
                    break
                live.sort(key=lambda op: op.key)
                if depth < len(nodes):
                    node = nodes[depth]
                    op, outcome = node.chosen  # type: ignore[misc]
                    chosen = next(p for p in live if p.key == op.key)
                else:
                    sleep = _child_sleep(nodes[depth - 1]) if depth else set()
                    lowest = {}
                    for op in live:
                        lowest.setdefault(op.actor, op.key)
                    todo = [
                        (op, outcome)
                        for op in live
                        if op.key not in sleep
                        for outcome in self._outcomes(
                            tick, op, lowest[op.actor] == op.key
                        )
                    ]
                    if not todo:
                        return Leaf(None, tick.trace, None)
                    if cache is not None:
                        # Reached before with a sleep set no larger: explored there.
                        key = tick.key()
                        earlier = cache.get(key)
                        if earlier is not None and earlier <= sleep:
                            return Leaf(None, tick.trace, None)
                        cache[key] = (
                            frozenset(sleep) if earlier is None else earlier & sleep
                        )
                    node = Node(live, sleep, todo)
                    node.chosen = todo.pop(0)
                    nodes.append(node)
                    chosen = node.chosen[0]
                    outcome = node.chosen[1]
                depth += 1
                self._resolve(tick, tasks, chosen, outcome)
        finally:
            self._cancel(tasks)
        return Leaf(self._next_world(world, event, tick), tick.trace, tick.violation)

    def _resolve(
        self, tick: Tick, tasks: dict[str, asyncio.Task], op: Op, outcome: str
    ) -> None:
        self.transitions += 1
        tick.observe(op.actor, (op.seq, outcome))
        tick.trace.append(f"  {op.actor}: {op.kind} {op.target} -> {outcome}")
        if outcome == "crash":
            tick.crashes_used += 1
            tick.disturbed(resets=False)
            tasks[_task_of(op.actor)].cancel()
            return
        if outcome != "ok":
            tick.faults_used += 1
            tick.disturbed(resets=outcome not in ABSORBED)
        op.future.set_result(outcome)

    def _cancel(self, tasks: dict[str, asyncio.Task]) -> None:
        pending = [task for task in tasks.values() if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            run_until_idle(self.loop)

    def _next_world(self, world: World, event: Event, tick: Tick) -> World:
        state = tick.state
        disabled = state is not None and state.is_disabled(T0)
        # No state row yet: the monitor has not started watching (its first checks
        # crashed or failed); its grace counts from the check that writes the row.
        unstarted = world.down or world.state is None
        fault_age = 0 if tick.resetting_fault or unstarted else world.fault_age + 1
        op_age = 0 if event.kind == "operator" or disabled else world.op_age + 1
        checked = not world.down and world.phase == 0
        nxt = replace(
            world,
            phase=(world.phase + 1) % PERIOD,
            state=state,
            last_seen=tick.last_seen,
            lco_age=min(world.lco_age + 1, AGE_CAP),
            quiet_for=1 if world.lco_up else min(world.quiet_for + 1, AGE_CAP),
            fault_age=min(fault_age, AGE_CAP),
            crash_age=0 if tick.crashes_used else min(world.crash_age + 1, AGE_CAP),
            op_age=min(op_age, AGE_CAP),
            past_due_next=world.past_due_next and not checked,
            faults=world.faults - tick.faults_used,
            crashes=world.crashes - tick.crashes_used,
            ghosts=tuple(sorted(tick.ghosts.items())),
        )
        return canonical(nxt, shift=timedelta(seconds=1))

    # the environment

    def events(self, world: World) -> list[tuple[Event, World]]:
        """Each environment event possible at the start of this tick, with the world
        it makes (budgets spent)."""
        events = [(Event(), world)]
        phases = self.family.event_phases
        if phases is not None and world.phase not in phases:
            return events
        if world.toggles:
            events.append(
                (
                    Event("toggle", "LCO starts" if not world.lco_up else "LCO stops"),
                    replace(
                        world,
                        lco_up=not world.lco_up,
                        lco_age=0,
                        toggles=world.toggles - 1,
                    ),
                )
            )
        if world.down:
            for past_due in (True, False):
                events.append(
                    (
                        Event("up", f"past_due={past_due}"),
                        replace(world, down=False, past_due_next=past_due),
                    )
                )
        elif world.downtimes:
            events.append(
                (
                    Event("down"),
                    replace(world, down=True, downtimes=world.downtimes - 1),
                )
            )
        if world.spurious and not world.down and world.phase == 0:
            events.append(
                (Event("past_due"), replace(world, spurious=world.spurious - 1))
            )
        if world.operator and not world.down:
            for action in self.family.operator_actions:
                events.append(
                    (
                        Event("operator", action),
                        replace(world, operator=world.operator - 1),
                    )
                )
        return events

    def successors(
        self, world: World
    ) -> Iterator[tuple[World, Event, list[Choice], Leaf]]:
        """Every world one tick later, with how it was reached."""
        for event, start in self.events(world):
            nodes: list[Node] = []
            cache: dict[tuple, frozenset] = {}
            while True:
                leaf = self.run_tick(start, event, nodes, cache)
                if leaf.world is not None or leaf.violation:
                    yield start, event, _choices(nodes), leaf
                if not _backtrack(nodes):
                    break

    # the invariants that look at a world

    def check_world(self, world: World) -> str | None:
        """I3 and I5 at a tick boundary."""
        state = world.state
        armed = world.last_seen is not None
        last = {name: ghost.last_kind for name, ghost in world.ghosts}
        if world.crash_age >= AFTER_CRASH and not world.down:
            if (
                not world.lco_up
                and armed
                and world.lco_age >= ALERT_AFTER_SILENCE
                and world.fault_age >= ALERT_AFTER_RESTART
                and world.op_age >= ALERT_AFTER_RESTART
            ):
                late = [n for n, kind in last.items() if kind is not NoticeKind.DOWN]
                if late:
                    return (
                        f"I3 LCO silent for {world.lco_age} s and no alert on "
                        f"{', '.join(late)} (bound {ALERT_AFTER_SILENCE} s)"
                    )
            if (
                world.lco_up
                and world.lco_age >= CLEAR_AFTER_RETURN
                and world.fault_age >= AFTER_CRASH
                and world.op_age >= CLEAR_AFTER_RETURN
            ):
                stale = [n for n, kind in last.items() if kind is NoticeKind.DOWN]
                if stale:
                    return (
                        f"I3 LCO beating for {world.lco_age} s and no all-clear on "
                        f"{', '.join(stale)} (bound {CLEAR_AFTER_RETURN} s)"
                    )
            if state and state.outbox and world.fault_age >= AFTER_CRASH:
                return (
                    f"I5 {state.outbox[0].notice.kind} notice still pending "
                    f"{AFTER_CRASH} s after the last fault"
                )
        return None

    # the cool-down at the end of each path

    def cool_down(self, world: World, memo: dict[str, set[World]]) -> str | None:
        """Stop faults, run checks until nothing changes: pending notices must drain
        while still disabled; then enable: every channel must end on the truth."""
        calm = replace(
            world,
            toggles=0,
            faults=0,
            crashes=0,
            downtimes=0,
            spurious=0,
            operator=0,
            down=False,
            past_due_next=False,
            fault_age=0 if world.down else world.fault_age,
        )
        end, problem = self._settle_down(calm, Event(), memo["drain"], "drain")
        if problem or end is None:
            return problem
        if end.state and end.state.outbox:
            return f"I5 {end.state.outbox[0].notice.kind} notice never delivered"
        if end.state is None or not end.state.is_disabled(T0):
            enabled = end
            first = Event()
        else:
            enabled = end
            first = Event("operator", "enable")
        end, problem = self._settle_down(enabled, first, memo["enable"], "enable")
        if problem or end is None:
            return problem
        if end.state and end.state.outbox:
            return f"I5 {end.state.outbox[0].notice.kind} notice never delivered"
        want = NoticeKind.UP if end.lco_up else NoticeKind.DOWN
        for name, ghost in end.ghosts:
            if end.lco_up and ghost.last_kind is NoticeKind.DOWN:
                return f"convergence: {name} last told DOWN while LCO is beating"
            if (
                not end.lco_up
                and end.last_seen is not None
                and ghost.last_kind is not want
            ):
                return (
                    f"convergence: {name} last told {ghost.last_kind} "
                    "while LCO is silent"
                )
        return None

    def _settle_down(
        self, world: World, first: Event, proven: set[World], label: str
    ) -> tuple[World | None, str | None]:
        seen: list[World] = []
        seen_set: set[World] = set()
        labels: list[str] = []
        event = first
        while world not in seen_set:
            if world in proven and event.kind == "none":
                proven.update(seen_set)
                return None, None
            seen.append(world)
            seen_set.add(world)
            leaf = self.run_tick(world, event, [])
            labels.append(_label(event, leaf.trace))
            problem = leaf.violation
            if problem is None:
                world = leaf.world  # type: ignore[assignment]
                problem = self.check_world(world)
            if problem:
                steps = _report(self.family, "", labels).split("\n")[2:]
                return None, "\n".join(
                    [f"{problem} (cool-down, {label}: no faults, LCO as it was)"]
                    + [f"then cool-down {line}" for line in steps]
                )
            event = Event()
        proven.update(seen_set)
        return world, None

    # the search

    def explore(self, *, max_states: int | None = None) -> Result:
        started = time.perf_counter()
        first = canonical(initial_world(self.family))
        parents: dict[World, tuple[World | None, str]] = {first: (None, "start")}
        frontier = deque([first])
        memo: dict[str, set[World]] = {"drain": set(), "enable": set()}
        violations: list[str] = []
        while frontier:
            world = frontier.popleft()
            for _, event, _choices, leaf in self.successors(world):
                nxt = leaf.world
                label = _label(event, leaf.trace)
                problem = leaf.violation
                if problem is None and nxt is not None:
                    problem = self.check_world(nxt)
                if problem is None and nxt is not None and nxt not in parents:
                    if self.family.cool_down:
                        problem = self.cool_down(nxt, memo)
                if problem:
                    trace = _trace(parents, world) + [label]
                    violations.append(_report(self.family, problem, trace))
                    if self.family.stop_at_first:
                        return self._result(parents, violations, started, cut=True)
                    continue
                if nxt is not None and nxt not in parents:
                    parents[nxt] = (world, label)
                    frontier.append(nxt)
                    if max_states and len(parents) >= max_states:
                        return self._result(parents, violations, started, cut=True)
        return self._result(parents, violations, started)

    def _result(self, parents, violations, started, cut: bool = False) -> Result:
        return Result(
            self.family.name,
            states=len(parents),
            transitions=self.transitions,
            runs=self.runs,
            seconds=time.perf_counter() - started,
            violations=violations,
            fixpoint=not cut,
        )


@dataclass
class Result:
    family: str
    states: int
    transitions: int
    runs: int
    seconds: float
    violations: list[str]
    fixpoint: bool

    def summary(self) -> str:
        return (
            f"{self.family}: {self.states} states, {self.runs} tick runs, "
            f"{self.transitions} steps, {self.seconds:.1f} s, "
            f"{'fixpoint' if self.fixpoint else 'stopped early'}, "
            f"{len(self.violations)} violation(s)"
        )


def explore(family: Family | str, **options) -> Result:
    family = FAMILIES[family] if isinstance(family, str) else family
    explorer = Explorer(family)
    try:
        return explorer.explore(**options)
    finally:
        explorer.close()


# --- helpers ------------------------------------------------------------


def _task_of(actor: str) -> str:
    return actor


def _child_sleep(parent: Node) -> set[tuple[str, int]]:
    """The sleep set after the parent's chosen step: what slept there or was fully
    explored before it, and commutes with it."""
    op = parent.chosen[0]  # type: ignore[index]
    by_key = {p.key: p for p in parent.enabled}
    return {
        key
        for key in parent.sleep | parent.done
        if key in by_key and independent(by_key[key], op)
    }


def _backtrack(nodes: list[Node]) -> bool:
    """Move to the next unexplored choice (deepest first); False when none is left."""
    while nodes:
        node = nodes[-1]
        if node.todo:
            previous = node.chosen[0]  # type: ignore[index]
            node.chosen = node.todo.pop(0)
            if node.chosen[0].key != previous.key:
                node.done.add(previous.key)
            return True
        nodes.pop()
    return False


def _choices(nodes: list[Node]) -> list[Choice]:
    return [(n.chosen[0].actor, n.chosen[0].seq, n.chosen[1]) for n in nodes]  # type: ignore[index]


def _label(event: Event, trace: list[str]) -> str:
    return "\n".join([f"tick: {event}", *trace])


def _trace(parents: dict, world: World) -> list[str]:
    labels: list[str] = []
    while True:
        parent, label = parents[world]
        if parent is None:
            break
        labels.append(label)
        world = parent
    return labels[::-1]


def _report(family: Family, problem: str, labels: list[str]) -> str:
    """The problem, the shortest trace to it (quiet ticks left out), then what the
    cool-down did when the problem showed there."""
    problem, *cool_down = problem.split("\n")
    lines = [f"[{family.name}] {problem}", f"shortest trace ({len(labels)} ticks):"]
    for second, label in enumerate(labels):
        head, *rest = label.split("\n")
        if head == "tick: none" and not rest:
            continue
        lines.append(f"t={second:>3}s {head.removeprefix('tick: ')}")
        lines.extend(rest)
    return "\n".join(lines + cool_down)


# --- canonical worlds --------------------------------------------------


def canonical(world: World, shift: timedelta = timedelta(0)) -> World:
    """The same world with times relative to now (moved by `shift` first), times older
    than CAP reduced to their order, facts no rule reads dropped, notice ids renamed
    in order of appearance and claim tokens of finished invocations made alike."""
    times: set[datetime] = set()

    def moved(moment: datetime | None) -> datetime | None:
        if moment is None or moment == NEVER:
            return moment
        moment = moment - shift
        times.add(moment)
        return moment

    state = world.state
    last_seen = moved(world.last_seen)
    if state is not None:
        state = _map_times(state, moved)
    old = sorted((t for t in times if t < T0 - CAP), reverse=True)
    ranks = {t: T0 - CAP - timedelta(seconds=i + 1) for i, t in enumerate(old)}

    def capped(moment: datetime | None) -> datetime | None:
        return ranks.get(moment, moment) if moment is not None else None

    last_seen = capped(last_seen)
    if state is not None:
        state = _map_times(state, capped)
        if last_seen is not None and state.counting_from < last_seen:
            # Only ever read through max(last_seen, counting_from), and last_seen
            # only grows: an older counting_from says nothing more.
            state = replace(state, counting_from=last_seen)
        if state.last_check < T0 - GAP_CAP:
            state = replace(state, last_check=T0 - GAP_CAP)
    # rename notice ids
    names: dict[str, str] = {}

    def name(notice_id: str | None) -> str | None:
        if notice_id is None:
            return None
        if notice_id not in names:
            names[notice_id] = f"n{len(names) + 1}"
        return names[notice_id]

    if state is not None:
        for pending in state.outbox:
            name(pending.notice.id)
        if state.outage is not None:
            name(state.outage.id)
    stored = set(names)
    ghosts = []
    for channel, ghost in world.ghosts:
        earlier = tuple(name(i) for i in ghost.earlier if i in stored)
        ghosts.append(
            (channel, replace(ghost, last_id=name(ghost.last_id), earlier=earlier))
        )
    if state is not None:
        state = _rename(state, names)
    return replace(world, state=state, last_seen=last_seen, ghosts=tuple(ghosts))


def _map_times(
    state: MonitorState, fn: Callable[[datetime | None], datetime | None]
) -> MonitorState:
    outage = state.outage
    if outage is not None:
        outage = Outage(outage.id, T0, fn(outage.last_seen), None)
    outbox = []
    for pending in state.outbox:
        deliveries = []
        for channel, delivery in pending.deliveries:
            until = fn(delivery.claimed_until)
            if until is not None and until <= T0 - timedelta(seconds=SKEW + 1):
                delivery = Delivery()  # expired for every checker: as unclaimed
            else:
                delivery = Delivery(
                    claim="done" if delivery.claim else None, claimed_until=until
                )
            deliveries.append((channel, delivery))
        notice = pending.notice
        notice = Notice(notice.id, notice.kind, T0, None, None, None, notice.forced)
        outbox.append(Pending(notice, tuple(deliveries)))
    return MonitorState(
        counting_from=fn(state.counting_from),  # type: ignore[arg-type]
        last_check=fn(state.last_check),  # type: ignore[arg-type]
        disabled_until=fn(state.disabled_until),
        outage=outage,
        outbox=tuple(outbox),
    )


def _rename(state: MonitorState, names: dict[str, str]) -> MonitorState:
    outage = state.outage
    if outage is not None:
        outage = replace(outage, id=names[outage.id])
    outbox = tuple(
        replace(p, notice=replace(p.notice, id=names[p.notice.id]))
        for p in state.outbox
    )
    return replace(state, outage=outage, outbox=outbox)
