"""The explorer finds each break issue 11 reported, brought back as a mutant.

A test that cannot fail proves nothing: each mutant patches the real code back into a
broken state, and the family named for it must report a violation (the search stops
at the first, so this stays fast).
"""

from __future__ import annotations

import pytest
from explorer import explore
from mutants import MUTANTS, Mutant


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_explorer_catches_the_break(mutant: Mutant) -> None:
    budget = mutant.budget()
    with mutant.patch():
        caught = explore(budget)
    assert caught.violations, f"{budget.name} did not catch: {mutant.break_}"
