"""The prompts of a run: fixed, random words with a length distribution, or uploaded lines."""

import random
from collections.abc import Iterator

from cortex_contracts.events.bench import PromptSettings

# Common short words: one simulated (and, roughly, one real BPE) token each.
_WORD_TEXT = (
    "the of and to in is that it for on was with as be at by this had not are but from or have "
    "an they which one you were all we her she there would their will when who him been has more "
    "if no out so said what up its about into than them can only other new some could time these "
    "two may then do first any my now such like our over man me even most made after also did"
)
WORDS = _WORD_TEXT.split()


def prompt_stream(settings: PromptSettings, seed: int) -> Iterator[str]:
    """Endless prompts, the same sequence for the same settings and seed."""
    rng = random.Random(seed)
    index = 0
    while True:
        if settings.kind == "fixed":
            yield settings.text
        elif settings.kind == "jsonl":
            yield settings.prompts[index % len(settings.prompts)]
            index += 1
        else:
            length = max(1, round(rng.gauss(settings.input_len, settings.input_len_stddev)))
            yield " ".join(rng.choice(WORDS) for _ in range(length))
