"""Bradley-Terry scores with bootstrap confidence intervals, as LMSYS's Chatbot Arena computes
them (FastChat `elo_analysis.py`: `compute_mle_elo` and `get_bootstrap_result`).

FastChat fits a logistic regression without intercept or penalty on the pairwise table where a
win counts twice and a tie once for each side (`ptbl_win = 2 * wins + ties`), with features
±ln(10), and reports `400 * coef + 1000`. That is the maximum-likelihood Bradley-Terry fit
P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400)) with the mean rating at 1000 (lbfgs from zero
never leaves the sum-zero subspace). Here the same likelihood is maximised with Hunter's MM
algorithm (no numeric library needed for a handful of models). One difference, documented: a
pseudo-count of `prior` (a hundredth of a tie by default) between every pair that met keeps the
fit finite when a model never lost, which with a user's first few votes is the usual case; set it
to 0 for the exact unpenalised fit.
"""

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
DEFAULT_PRIOR = 0.01
MAX_ITERATIONS = 5000
TOLERANCE = 1e-10
BOOTSTRAP_ROUNDS = 100

Outcome = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class Battle:
    model_a: str
    model_b: str
    outcome: Outcome


def fit(battles: Sequence[Battle], prior: float = DEFAULT_PRIOR) -> dict[str, float]:
    """Maximum-likelihood ratings on the Elo scale (mean 1000) of every model in `battles`."""
    weight: dict[tuple[str, str], float] = defaultdict(float)  # (i, j): 2*wins(i over j) + ties
    models: set[str] = set()
    for battle in battles:
        a, b = battle.model_a, battle.model_b
        models.update((a, b))
        if battle.outcome == "a":
            weight[a, b] += 2
        elif battle.outcome == "b":
            weight[b, a] += 2
        else:
            weight[a, b] += 1
            weight[b, a] += 1
    names = sorted(models)
    if not names:
        return {}
    met = {frozenset(pair) for pair in weight}
    for pair in met:
        if len(pair) == 2:
            i, j = sorted(pair)
            weight[i, j] += prior
            weight[j, i] += prior
    strengths = _mm(names, weight)
    logs = {name: math.log(strengths[name]) for name in names}
    mean = sum(logs.values()) / len(logs)
    return {name: SCALE / math.log(BASE) * (logs[name] - mean) + INIT_RATING for name in names}


def _mm(names: list[str], weight: dict[tuple[str, str], float]) -> dict[str, float]:
    """Hunter (2004): p_i <- W_i / sum_j n_ij / (p_i + p_j), renormalised every step."""
    wins = {name: 0.0 for name in names}
    games: dict[str, list[tuple[str, float]]] = {name: [] for name in names}
    for (i, j), w in weight.items():
        wins[i] += w
        if i < j:
            n = w + weight.get((j, i), 0.0)
            games[i].append((j, n))
            games[j].append((i, n))
    p = {name: 1.0 for name in names}
    for _ in range(MAX_ITERATIONS):
        new = {}
        for i in names:
            denominator = sum(n / (p[i] + p[j]) for j, n in games[i])
            new[i] = wins[i] / denominator if denominator > 0 and wins[i] > 0 else p[i]
        scale = math.exp(sum(math.log(v) for v in new.values()) / len(new))
        new = {name: v / scale for name, v in new.items()}
        change = max(abs(math.log(new[n]) - math.log(p[n])) for n in names)
        p = new
        if change < TOLERANCE:
            break
    return p


@dataclass(frozen=True)
class Rating:
    model: str
    score: float
    ci_low: float
    ci_high: float


def ratings(
    battles: Sequence[Battle],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
    prior: float = DEFAULT_PRIOR,
) -> list[Rating]:
    """The fit on all battles with a 95 % interval from `rounds` bootstrap resamples (battles
    drawn with replacement, as many as there are), best first."""
    scores = fit(battles, prior)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(rounds if battles else 0):
        resample = [battles[rng.randrange(len(battles))] for _ in battles]
        for name, value in fit(resample, prior).items():
            samples[name].append(value)
    out = []
    for name, score in scores.items():
        low = quantile(samples[name], 0.025) if samples[name] else score
        high = quantile(samples[name], 0.975) if samples[name] else score
        out.append(Rating(name, score, low, high))
    return sorted(out, key=lambda r: (-r.score, r.model))


def quantile(values: Iterable[float], q: float) -> float:
    """Linear interpolation between closest ranks (pandas' and numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
