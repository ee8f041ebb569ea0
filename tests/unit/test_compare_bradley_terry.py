"""Bradley-Terry ratings as LMSYS's arena computes them, against values known independently."""

import math
from itertools import pairwise

import numpy as np
import pytest

from cortex_contracts.messages.compare import VoteRecord
from cortex_gateway.compare.bradley_terry import Battle, fit, quantile, ratings
from cortex_gateway.compare.leaderboard import battles_of, leaderboard

pytestmark = pytest.mark.unit


def battles(a: str, b: str, a_wins: int, ties: int, b_wins: int) -> list[Battle]:
    return (
        [Battle(a, b, "a")] * a_wins + [Battle(a, b, "tie")] * ties + [Battle(a, b, "b")] * b_wins
    )


def fastchat_fit(games: list[Battle]) -> dict[str, float]:
    """FastChat's compute_mle_elo, written with numpy: the logistic regression (no intercept, no
    penalty, features +-ln 10, win weight 2 and tie weight 1 per side), solved by Newton's method
    in the sum-zero subspace that sklearn's lbfgs, started at zero, stays in."""
    names = sorted({m for g in games for m in (g.model_a, g.model_b)})
    index = {name: i for i, name in enumerate(names)}
    weight = np.zeros((len(names), len(names)))
    for game in games:
        a, b = index[game.model_a], index[game.model_b]
        if game.outcome == "a":
            weight[a, b] += 2
        elif game.outcome == "b":
            weight[b, a] += 2
        else:
            weight[a, b] += 1
            weight[b, a] += 1
    beta = np.zeros(len(names))
    ln10 = math.log(10)
    for _ in range(100):
        gradient = np.zeros(len(names))
        hessian = np.zeros((len(names), len(names)))
        for i in range(len(names)):
            for j in range(len(names)):
                if i == j or weight[i, j] + weight[j, i] == 0:
                    continue
                p = 1 / (1 + math.exp(-ln10 * (beta[i] - beta[j])))
                gradient[i] += ln10 * (weight[i, j] * (1 - p) - weight[j, i] * p)
                h = ln10**2 * (weight[i, j] + weight[j, i]) * p * (1 - p) / 2
                hessian[i, i] += h
                hessian[j, j] += h
                hessian[i, j] -= h
                hessian[j, i] -= h
        beta += np.linalg.pinv(hessian) @ gradient
        beta -= beta.mean()
    return {name: 400 * beta[index[name]] + 1000 for name in names}


def test_two_models_follow_the_closed_form() -> None:
    # 3 wins to 1: P(x beats y) = (2*3) / (2*3 + 2*1) = 3/4, so R_x - R_y = 400 log10(3).
    scores = fit(battles("x", "y", 3, 0, 1), prior=0)
    assert scores["x"] - scores["y"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert (scores["x"] + scores["y"]) / 2 == pytest.approx(1000)


def test_ties_count_as_half_a_win_each_side() -> None:
    # 1 win, 2 ties, 0 losses: weights 2+2 against 2 -> odds 2:1.
    scores = fit(battles("x", "y", 1, 2, 0), prior=0)
    assert scores["x"] - scores["y"] == pytest.approx(400 * math.log10(2), abs=1e-6)


def test_several_models_match_fastchats_logistic_regression() -> None:
    games = (
        battles("gpt", "llama", 7, 2, 3)
        + battles("gpt", "mistral", 5, 1, 1)
        + battles("llama", "mistral", 4, 3, 4)
        + battles("qwen", "gpt", 2, 0, 6)
        + battles("qwen", "llama", 3, 1, 3)
    )
    ours = fit(games, prior=0)
    theirs = fastchat_fit(games)
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], abs=0.01)
    ranking = sorted(ours, key=ours.__getitem__, reverse=True)
    assert ranking[0] == "gpt"


def test_a_model_that_never_lost_gets_a_finite_rating_and_an_interval() -> None:
    board = ratings(battles("x", "y", 1, 0, 0))
    assert [r.model for r in board] == ["x", "y"]
    assert all(math.isfinite(r.score) for r in board)
    assert board[0].score > 1000 > board[1].score


def test_the_bootstrap_interval_holds_the_rating_and_narrows_with_more_votes() -> None:
    few = {r.model: r for r in ratings(battles("x", "y", 6, 2, 3), seed=1)}
    many = {r.model: r for r in ratings(battles("x", "y", 60, 20, 30), seed=1)}
    for board in (few, many):
        assert board["x"].ci_low <= board["x"].score <= board["x"].ci_high
    assert many["x"].ci_high - many["x"].ci_low < few["x"].ci_high - few["x"].ci_low


def test_quantile_interpolates_like_numpy() -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    for q in (0.025, 0.5, 0.975):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_votes_become_battles_between_the_preferred_pane_and_each_other() -> None:
    vote = VoteRecord(models=["a", "b", "c"], choice="pane", pane=1)
    assert battles_of([vote]) == [Battle("a", "b", "b"), Battle("b", "c", "a")]
    tie = VoteRecord(models=["a", "b", "c"], choice="bad")
    assert [b.outcome for b in battles_of([tie])] == ["tie"] * 3
    same_model = VoteRecord(models=["a", "a"], choice="pane", pane=0)
    assert battles_of([same_model]) == []


def test_the_leaderboard_counts_wins_ties_and_losses_per_model_and_pair() -> None:
    votes = [
        VoteRecord(models=["a", "b"], choice="pane", pane=0, blind=True),
        VoteRecord(models=["b", "a"], choice="pane", pane=0),
        VoteRecord(models=["a", "b"], choice="tie", blind=True),
    ]
    board = leaderboard(votes, "user", blind_only=False)
    counts = {e.model: (e.wins, e.ties, e.losses) for e in board.entries}
    assert counts == {"a": (1, 1, 1), "b": (1, 1, 1)}
    assert [(p.model_a, p.model_b, p.a_wins, p.ties, p.b_wins) for p in board.pairs] == [
        ("a", "b", 1, 1, 1)
    ]
    blind = leaderboard(votes, "user", blind_only=True)
    assert blind.votes == 2
    assert [e.score for e in blind.entries] == sorted(
        (e.score for e in blind.entries), reverse=True
    )
    assert all(x.score >= y.score for x, y in pairwise(board.entries))
