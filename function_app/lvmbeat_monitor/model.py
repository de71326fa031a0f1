"""The monitor's state, as plain immutable dataclasses (no storage, no HTTP).

Two facts live apart on purpose: the heartbeat's `last_seen` (written by `/heartbeat`
without reading anything) and the `MonitorState` below (changed only by conditional
updates). A heartbeat can therefore never be lost by a check that updates the state.

Each fact is stored once. Whether monitoring is enabled, whether an outage is declared
and what is still to be delivered are all read from the fields below, never kept twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from lvmbeat_monitor.report import LastReport


# `disabled_until` for a disable that lasts until /enable: later than any real time, so
# "disabled while now < disabled_until" needs no second field.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


class NoticeKind(StrEnum):
    """The notifications people get."""

    DOWN = "down"  # "LCO internet is down"
    UP = "up"  # "RESOLVED: LCO internet is up"
    REMIND = "remind"  # "LCO internet is still down" (LVMBEAT_REMIND_EVERY)


@dataclass(frozen=True)
class Notice:
    """One notification, with every fact its messages state.

    It is decided once and stored, so a retry says the same thing.
    """

    id: str
    kind: NoticeKind
    decided_at: datetime
    # The last heartbeat before the outage (None: none was ever recorded).
    last_seen: datetime | None
    # Where the silence was counted from; None for an operator's /notify/down while
    # heartbeats were current: no silence is claimed that did not happen.
    silent_since: datetime | None
    # For UP: the heartbeat that ended the outage, as the check saw it.
    back_at: datetime | None = None
    # Sent by an operator through /notify rather than decided by a check.
    forced: bool = False
    # The outage this notice is about (the id of the DOWN that declared it): later
    # notices of one outage are threaded to its first delivered one. None for an
    # operator's /notify/up when no outage was declared.
    outage_id: str | None = None
    # For REMIND: which reminder of the outage this is (1, 2, ...).
    reminder: int = 0
    # The actor's last report (LCO's last word), attached when the notice is sent. It
    # is not stored with the notice: it lives once, with the heartbeat (state.py).
    report: LastReport | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Delivery:
    """One channel's share of one notice, until that channel has it.

    `claim` and `claimed_until` are a lease: the claim is a token unique to one
    attempt, so the writer recognises its own claim when storage applied the write but
    answered with an error; a claimer that crashed lets another take over once the
    lease is over (a repeat, never a loss).
    """

    claim: str | None = None
    claimed_until: datetime | None = None
    attempts: int = 0
    error: str | None = None  # the kind of the last failed attempt (ErrorKind)

    def held_by_other(self, now: datetime, token: str) -> bool:
        """Someone else is sending this right now."""
        return (
            self.claim is not None
            and self.claim != token
            and self.claimed_until is not None
            and now < self.claimed_until
        )


@dataclass(frozen=True)
class Pending:
    """A notice and the channels it has not reached yet (in name order)."""

    notice: Notice
    deliveries: tuple[tuple[str, Delivery], ...]

    def delivery(self, channel: str) -> Delivery | None:
        return dict(self.deliveries).get(channel)

    def with_delivery(self, channel: str, delivery: Delivery | None) -> Pending:
        """This notice with one channel's delivery replaced, or removed (None)."""
        others = {name: held for name, held in self.deliveries if name != channel}
        if delivery is not None:
            others[channel] = delivery
        return replace(self, deliveries=tuple(sorted(others.items())))


@dataclass(frozen=True)
class Outage:
    """An outage that has been declared (the alert decided) and not ended yet."""

    id: str  # the id of the DOWN notice that declared it
    declared_at: datetime
    last_seen: datetime | None  # the last heartbeat before it
    silent_since: datetime | None  # where its silence was counted from
    # Reminders queued so far (LVMBEAT_REMIND_EVERY): the check that finds reminder
    # n+1 due queues it and writes n+1 here in the same conditional write, so racing
    # checkers queue each reminder once.
    reminded: int = 0


@dataclass(frozen=True)
class Receipt:
    """What a channel answered for the first notice of an outage it delivered (Slack:
    the message's `ts`; email: its Message-ID): the thread later notices of the same
    outage join."""

    outage_id: str
    channel: str
    value: str


@dataclass(frozen=True)
class MonitorState:
    """Everything the checks decide on, besides the heartbeat itself."""

    # A silence counts from the later of the last heartbeat and this moment: the first
    # check ever, the last enable (or the end of a timed disable), or the monitor's
    # return after it missed scheduled checks. Before it, no running monitor watched.
    counting_from: datetime
    # The latest check that ran, whatever it found: the evidence that the monitor was
    # running. A longer gap than Policy.gap_after before a check moves counting_from.
    last_check: datetime
    # None: enabled. Monitoring is off while now < disabled_until (NEVER: until
    # /enable); a time in the past is a window that ran out and no check noticed yet.
    disabled_until: datetime | None = None
    outage: Outage | None = None
    # Notices not yet delivered on every channel, oldest first. Each channel takes them
    # in this order, so nobody gets an all-clear before the alert it resolves.
    outbox: tuple[Pending, ...] = ()
    # Thread roots of outages that are declared or still have notices queued; the
    # others are forgotten when their last notice is delivered.
    receipts: tuple[Receipt, ...] = ()

    def is_disabled(self, now: datetime) -> bool:
        return self.disabled_until is not None and now < self.disabled_until

    def channel_head(self, channel: str) -> tuple[Pending, Delivery] | None:
        """The oldest notice this channel still has to deliver."""
        for pending in self.outbox:
            delivery = pending.delivery(channel)
            if delivery is not None:
                return pending, delivery
        return None

    def thread_of(self, outage_id: str | None, channel: str) -> str | None:
        """The receipt later notices of this outage thread to on this channel."""
        for receipt in self.receipts:
            if receipt.outage_id == outage_id and receipt.channel == channel:
                return receipt.value
        return None
