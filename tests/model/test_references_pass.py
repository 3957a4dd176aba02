"""Every reference strategy keeps its contract under the stateful model, with the faults it
claims to survive (its registry entry's `survives`)."""

from __future__ import annotations

import pytest
from hypothesis import settings

import cachecheck.strategies  # noqa: F401  (registers every reference)
from cachecheck._model import ModelConfig, run_model
from cachecheck._world import World
from cachecheck.strategies._registry import REFERENCES

#: Deterministic, bounded: the same examples every run (HYPOTHESIS_PROFILE=thorough for more).
CI = settings(
    max_examples=60, stateful_step_count=20, deadline=None, database=None, derandomize=True
)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_keeps_its_contract(name: str, cachecheck_world: World) -> None:
    reference = REFERENCES[name]
    outcome = run_model(
        cachecheck_world,
        reference.factory,
        reference.contract,
        ModelConfig.for_faults(reference.survives),
        settings=CI,
        name=name,
    )
    assert outcome.error is None, outcome.error
    assert outcome.passed, f"{outcome.violation}\n{outcome.counterexample}"
    assert outcome.examples >= 30
