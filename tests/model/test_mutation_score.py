"""Every known-buggy strategy is caught: the checkers can fail.

A mutant with a dedicated scenario (lock ownership, breaker timeline, HTTP validators, ring
remapping, …) is run through it; every other mutant runs through the stateful model under its
reference strategy's fault set with the CI profile. Each test records whether the mutant was
caught, by which property, the time to catch and the length of the shrunk counterexample;
`conftest.py` prints the table at the end of the run.
"""

from __future__ import annotations

import importlib
import json

import pytest
from hypothesis import settings

from cachecheck._model import ModelConfig
from cachecheck._mutation import MutantScore, score_mutant
from cachecheck._world import World
from cachecheck.scenarios import CATCHERS, run_catcher

for _module in ("_mutants_core", "_mutants_edge"):  # registered on import
    importlib.import_module(f"cachecheck.strategies.{_module}")

from cachecheck.strategies._registry import MUTANTS, REFERENCES  # noqa: E402

SCORE_PROPERTY = "cachecheck_mutant_score"

ALL_MUTANTS = sorted(MUTANTS)

#: Deterministic and bounded: the same examples every run, enough to reach the races.
CI = settings(
    max_examples=1000, stateful_step_count=20, deadline=None, database=None, derandomize=True
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MUTANTS)
def test_mutant_is_caught(
    name: str, cachecheck_world: World, record_property: pytest.RecordProperty
) -> None:
    mutant = MUTANTS[name]
    score = _by_scenario(cachecheck_world, mutant) if name in CATCHERS else None
    if score is None:
        reference = REFERENCES[mutant.strategy]
        config = ModelConfig.for_faults(reference.survives)
        score = score_mutant(cachecheck_world, mutant, config, CI)
        assert score.counterexample_steps is None or score.counterexample_steps <= 8, (
            score.counterexample
        )
    record_property(SCORE_PROPERTY, json.dumps(score.to_dict()))
    assert score.caught, f"{name} ({mutant.bug_class}) escaped {score.via}: {score.note}"


def _by_scenario(world: World, mutant: object) -> MutantScore | None:
    found = run_catcher(world, mutant)
    if found is None:
        return None
    return MutantScore(
        name=found.mutant,
        strategy=getattr(mutant, "strategy", ""),
        bug_class=getattr(mutant, "bug_class", ""),
        expected=getattr(mutant, "caught_by", ""),
        caught=found.caught,
        properties=(found.prop,) if found.caught else (),
        seconds=found.seconds,
        time_to_catch=found.seconds if found.caught else None,
        counterexample_steps=None,
        via=f"scenario {CATCHERS[found.mutant].scenario}",
    )
