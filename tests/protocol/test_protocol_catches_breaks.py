"""The explorer finds each break issue 11 reported, brought back as a mutant.

A test that cannot fail proves nothing: each mutant patches the real code back into a
broken state, and the family named for it must report a violation (the search stops
at the first, so this stays fast).
"""

from __future__ import annotations

import pytest
from explorer import FAMILIES, explore
from mutants import MUTANTS, Mutant


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_explorer_catches_the_break(mutant: Mutant) -> None:
    with mutant.patch():
        result = explore(FAMILIES[mutant.family])
    assert result.violations, f"{mutant.family} did not catch {mutant.break_}"
    print(result.summary())
    print(result.violations[0])


def test_the_unbroken_code_passes_where_the_mutants_fail() -> None:
    # The mutant's context restores the real code: the same family is green after.
    with MUTANTS[0].patch():
        pass
    assert not explore(FAMILIES[MUTANTS[0].family]).violations
