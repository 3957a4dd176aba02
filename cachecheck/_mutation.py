"""Mutation score: run the model against every known-buggy strategy and require each caught.

A checker no mutant can fail is not a checker. For each mutant this records whether it was
caught, by which property, how long it took, and how short the shrunk counterexample is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from hypothesis import settings as hypothesis_settings

from cachecheck._model import ModelConfig, run_model
from cachecheck._world import World


@dataclass(frozen=True)
class MutantScore:
    name: str
    strategy: str
    bug_class: str
    expected: str
    caught: bool
    properties: tuple[str, ...]
    seconds: float
    time_to_catch: float | None
    counterexample_steps: int | None
    counterexample: str = ""
    via: str = "model"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "strategy": self.strategy,
            "bug_class": self.bug_class,
            "expected": self.expected,
            "caught": self.caught,
            "properties": list(self.properties),
            "seconds": round(self.seconds, 3),
            "time_to_catch": None if self.time_to_catch is None else round(self.time_to_catch, 3),
            "counterexample_steps": self.counterexample_steps,
            "counterexample": self.counterexample,
            "via": self.via,
            "note": self.note,
        }


def score_mutant(
    world: World,
    mutant: Any,
    config: ModelConfig,
    settings: hypothesis_settings,
    *,
    shrink_seconds: float | None = 20.0,
) -> MutantScore:
    """Run the stateful model on one mutant (from `cachecheck.strategies` MUTANTS)."""
    outcome = run_model(world, mutant.factory, mutant.contract, config, settings=settings,
                        name=mutant.name, shrink_seconds=shrink_seconds)  # fmt: skip
    note = "" if outcome.error is None else f"{type(outcome.error).__name__}: {outcome.error}"
    return MutantScore(
        name=mutant.name,
        strategy=mutant.strategy,
        bug_class=mutant.bug_class,
        expected=mutant.caught_by,
        caught=not outcome.passed and outcome.violation is not None,
        properties=tuple(sorted(outcome.properties_violated)),
        seconds=outcome.seconds,
        time_to_catch=outcome.time_to_catch,
        counterexample_steps=outcome.counterexample_steps,
        counterexample=outcome.counterexample,
        note=note,
    )


def score_with(mutant: Any, catch: Callable[[], tuple[bool, str]], *, via: str) -> MutantScore:
    """Score a mutant with a dedicated property check (HTTP, breaker, ring, …): `catch`
    returns (caught, property)."""
    started = time.monotonic()
    caught, prop = catch()
    seconds = time.monotonic() - started
    return MutantScore(
        name=mutant.name,
        strategy=mutant.strategy,
        bug_class=mutant.bug_class,
        expected=mutant.caught_by,
        caught=caught,
        properties=(prop,) if caught else (),
        seconds=seconds,
        time_to_catch=seconds if caught else None,
        counterexample_steps=None,
        via=via,
    )


def format_table(scores: Sequence[MutantScore]) -> str:
    """A plain-text table: one row per mutant, then the summary line."""
    header = f"{'mutant':44} {'caught':6} {'by':18} {'catch s':>7} {'total s':>7} {'steps':>5}"
    lines = [header, "-" * len(header)]
    for s in scores:
        catch = "-" if s.time_to_catch is None else f"{s.time_to_catch:.2f}"
        steps = "-" if s.counterexample_steps is None else str(s.counterexample_steps)
        by = ",".join(s.properties) or "-"
        lines.append(
            f"{s.name[:44]:44} {'yes' if s.caught else 'NO':6} {by[:18]:18} {catch:>7} "
            f"{s.seconds:>7.2f} {steps:>5}"
        )
    lines.append(summary_line(scores))
    return "\n".join(lines)


def summary_line(scores: Iterable[MutantScore]) -> str:
    scores = list(scores)
    caught = [s for s in scores if s.caught]
    times = [s.time_to_catch for s in caught if s.time_to_catch is not None]
    steps = [s.counterexample_steps for s in caught if s.counterexample_steps is not None]
    med = f"{median(times):.2f} s" if times else "-"
    worst = f"{max(times):.2f} s" if times else "-"
    longest = str(max(steps)) if steps else "-"
    return (
        f"caught {len(caught)}/{len(scores)} mutants; time to catch median {med}, max {worst}; "
        f"longest counterexample {longest} steps"
    )
