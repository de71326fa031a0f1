"""The alert protocol, explored exhaustively within each family's budget.

Each family runs the real MonitorService and decide.py through every interleaving of
its actors and faults (tests/protocol/explorer.py) until no new world appears, and
fails with the shortest trace that breaks an invariant. `bench/protocol_explore.py`
runs larger budgets.
"""

from __future__ import annotations

import pytest
from explorer import FAMILIES, explore


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_interleaving_keeps_the_promise(family: str) -> None:
    result = explore(family)
    assert not result.violations, result.violations[0]
    assert result.fixpoint
    # Within a tick, more than one order was explored: the search is not trivial.
    assert result.runs > result.states
