"""The leaderboard: votes become pairwise battles, rated with Bradley-Terry (bradley_terry.py).

A vote on a turn with k panes: 'tie' and 'bad' (all answers bad, LMSYS's "tie (bothbad)") make
every pair of panes a tie; a preferred pane wins against each other pane, and the pairs it is
not part of say nothing (no battle). Panes of the same model (a comparison of sampling settings)
make no battle.
"""

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Literal

from cortex_contracts.messages.compare import VoteRecord
from cortex_gateway.compare.bradley_terry import BOOTSTRAP_ROUNDS, Battle, ratings
from cortex_gateway.compare.views import Leaderboard, LeaderboardEntry, PairCount


def battles_of(votes: Sequence[VoteRecord]) -> list[Battle]:
    battles = []
    for vote in votes:
        for i, j in combinations(range(len(vote.models)), 2):
            a, b = vote.models[i], vote.models[j]
            if a == b:
                continue
            if vote.choice != "pane":
                battles.append(Battle(a, b, "tie"))
            elif vote.pane == i:
                battles.append(Battle(a, b, "a"))
            elif vote.pane == j:
                battles.append(Battle(a, b, "b"))
    return battles


def leaderboard(
    votes: Sequence[VoteRecord], scope: Literal["user", "all"], blind_only: bool
) -> Leaderboard:
    counted = [vote for vote in votes if vote.blind or not blind_only]
    battles = battles_of(counted)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # wins, ties, losses
    pairs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # a wins, ties, b
    for battle in battles:
        a, b = sorted((battle.model_a, battle.model_b))
        flipped = a != battle.model_a
        outcome = battle.outcome
        if flipped and outcome != "tie":
            outcome = "b" if outcome == "a" else "a"
        column = {"a": 0, "tie": 1, "b": 2}[outcome]
        pairs[a, b][column] += 1
        tally[a][column] += 1
        tally[b][2 - column] += 1
    entries = [
        LeaderboardEntry(
            model=rating.model,
            score=round(rating.score, 1),
            ci_low=round(rating.ci_low, 1),
            ci_high=round(rating.ci_high, 1),
            battles=sum(tally[rating.model]),
            wins=tally[rating.model][0],
            ties=tally[rating.model][1],
            losses=tally[rating.model][2],
        )
        for rating in ratings(battles)
    ]
    return Leaderboard(
        scope=scope,
        blind_only=blind_only,
        votes=len(counted),
        battles=len(battles),
        bootstrap_rounds=BOOTSTRAP_ROUNDS,
        entries=entries,
        pairs=[
            PairCount(model_a=a, model_b=b, a_wins=c[0], ties=c[1], b_wins=c[2])
            for (a, b), c in sorted(pairs.items())
        ],
    )
