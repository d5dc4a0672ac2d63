"""One seed helper, used by every stochastic API in Proxima (as cirq does with `seed=`)."""

from __future__ import annotations

import numpy as np

# Simulator libraries take 32-bit seeds (Aer's seed_simulator, numpy's legacy RandomState).
_SEED_BOUND = 2**31 - 1


def resolve_seed(seed: int | None) -> int:
    """A concrete, reportable seed: the one given, or a fresh one drawn from the OS so the run can be repeated."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % _SEED_BOUND)
    if not 0 <= int(seed) <= _SEED_BOUND:
        from proxima_agent.errors import OptionError

        raise OptionError(f"seed {seed} is out of range", hint=f"use an integer between 0 and {_SEED_BOUND}")
    return int(seed)


def rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)
