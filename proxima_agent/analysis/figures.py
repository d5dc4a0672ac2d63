"""The figures the analysis computes, as plain pydantic models (no numpy here): the tools type their structured
output with them without importing the numerical code at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TOP = 10
MAX_CORRELATION_BITS = 12  # pairwise correlations for up to 66 pairs; beyond that the list is left empty


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True)

    low: float
    high: float


class OutcomeFigure(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: str
    probability: float = Field(description="exact probability, or frequency when sampled")
    count: int | None = Field(description="times observed, when counts were given")
    interval: Interval | None = Field(description="95 % Wilson interval of the probability (sampled only)")


class BitFigure(BaseModel):
    model_config = ConfigDict(frozen=True)

    bit: int = Field(description="bit index: 0 is the rightmost character")
    p1: float = Field(description="P(bit = 1)")
    p1_interval: Interval | None
    z: float = Field(description="<Z_i> = 1 - 2 P(1)")
    z_interval: Interval | None


class PairCorrelation(BaseModel):
    model_config = ConfigDict(frozen=True)

    bits: tuple[int, int]
    zz: float = Field(description="<Z_i Z_j> = P(bits equal) - P(bits differ)")
    zz_interval: Interval | None
    covariance: float = Field(description="<Z_i Z_j> - <Z_i><Z_j>: 0 for independent bits")


class OutcomeStatistics(BaseModel):
    """The figures a reading of one result is built from."""

    model_config = ConfigDict(frozen=True)

    source: Literal["exact", "sampled"] = Field(
        description="exact: from a probability distribution (no sampling error); sampled: from counts"
    )
    shots: int
    num_bits: int
    confidence: float = Field(description="confidence of every interval")
    entropy_bits: float = Field(description="Shannon entropy of the distribution, in bits")
    max_entropy_bits: int = Field(description="num_bits: the entropy of the uniform distribution")
    support: int = Field(description="outcomes with nonzero probability (exact) or count (sampled)")
    distinct_observed: int | None = Field(description="distinct outcomes in the counts, None without counts")
    top: list[OutcomeFigure] = Field(description=f"the {TOP} likeliest outcomes, likeliest first")
    others_probability: float = Field(description="total probability of the outcomes not in `top`")
    bits: list[BitFigure]
    parity: float = Field(description="<Z...Z> over all bits = P(even number of 1s) - P(odd)")
    parity_interval: Interval | None
    correlations: list[PairCorrelation] = Field(
        description=f"every pair of bits, when there are at most {MAX_CORRELATION_BITS}"
    )


class PairAgreement(BaseModel):
    """Two results side by side: distances, the threshold they are held to, and the outcome."""

    model_config = ConfigDict(frozen=True)

    a: str = Field(description="label of the first result (its backend id unless told otherwise)")
    b: str
    exact_a: bool = Field(description="the first result's distribution is exact (not sampled)")
    exact_b: bool
    shots_a: int
    shots_b: int
    tvd: float = Field(description="total variation distance of the two outcome distributions")
    hellinger_fidelity: float
    state_fidelity: float | None = Field(description="None when either result lacks a final state")
    sampling_bound: float = Field(description="TVD explained by shot noise at the stated confidence")
    approximation_bound: float = Field(description="TVD allowed by the methods' own error bounds (LRET)")
    tolerance: float = Field(description="float rounding allowance")
    threshold: float = Field(description="sampling_bound + approximation_bound + tolerance, at most 1")
    confidence: float
    agrees: bool = Field(description="tvd <= threshold")


class BackendStanding(BaseModel):
    """One result's place in the ranking, with its own time and memory figures and their ratios."""

    model_config = ConfigDict(frozen=True)

    label: str
    backend: str
    rank: int = Field(description="1 is best: agreement first, then total time")
    disagreements: int = Field(description="how many of the other results it disagrees with")
    outlier: bool = Field(description="disagrees with most of the others")
    exact: bool
    shots: int
    time_s: float = Field(description="timing.total_s of the result")
    simulation_s: float = Field(description="timing.simulation_s of the result")
    time_ratio: float | None = Field(description="time_s / the fastest time_s (None if that is 0)")
    memory_bytes: int | None = Field(description="memory.peak_increase_bytes, None when not measured")
    memory_ratio: float | None = Field(
        description="memory_bytes / the smallest measured (None if 0 or absent)"
    )


class Consensus(BaseModel):
    """Do N results agree, who is the odd one out, and how they rank."""

    model_config = ConfigDict(frozen=True)

    backends: list[str]
    pairs: list[PairAgreement]
    agree: bool = Field(description="every pair agrees")
    outliers: list[str] = Field(description="results that disagree with most of the others")
    verdict: str
    ranking: list[BackendStanding]
    confidence: float
