"""Side-by-side compare: comparisons of 2 to 4 panes (each an ordinary chat session), arena votes
and the leaderboard computed from them."""
