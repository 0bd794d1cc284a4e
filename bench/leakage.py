"""How much a party's view says about the data: mutual information and a best guess.

Reusable for any comparison mode: give it what the party saw (one integer per check) and
the secret it could try to learn (the distance to the bound), paired by trial. Values are
reduced to their order of magnitude, ``floor(log2(|x| + 1))``, which is what the blinded
sign test is known to leak (DESIGN.md, "Leakage").
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LeakageEstimate:
    """Leakage of one view about the secret.

    Attributes:
        mutual_information_bits: Miller-Madow corrected plug-in I(view; secret), >= 0.
        guess_error_bits: mean |guessed - true| order of magnitude of the secret, for the
            best guess per view bin learnt on half the trials and scored on the other half.
        secret_entropy_bits: H(secret bin), the most any view can leak.
        trials: how many (view, secret) pairs.
    """

    mutual_information_bits: float
    guess_error_bits: float
    secret_entropy_bits: float
    trials: int


def magnitude_bin(x: int) -> int:
    """Order of magnitude of |x|: floor(log2(|x| + 1))."""
    return (abs(x) + 1).bit_length() - 1


def entropy_bits(values: Sequence[Hashable]) -> float:
    """Miller-Madow corrected plug-in entropy, in bits.

    Raises:
        ValueError: no values.
    """
    n = len(values)
    if n == 0:
        raise ValueError("entropy of no values")
    counts = Counter(values).values()
    plug_in = -sum(c / n * math.log2(c / n) for c in counts)
    return plug_in + (len(counts) - 1) / (2 * n * math.log(2))


def mutual_information_bits(xs: Sequence[Hashable], ys: Sequence[Hashable]) -> float:
    """I(X; Y) = H(X) + H(Y) - H(X, Y) with Miller-Madow corrected entropies, clipped at 0.

    Raises:
        ValueError: the sequences are empty or of different lengths.
    """
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} views but {len(ys)} secrets")
    joint = list(zip(xs, ys, strict=True))
    return max(0.0, entropy_bits(xs) + entropy_bits(ys) - entropy_bits(joint))


def guess_error_bits(xs: Sequence[int], ys: Sequence[int]) -> float:
    """Mean absolute error of the best per-bin guess of y from x (median of y in x's bin).

    Learnt on the even-indexed pairs, scored on the odd ones; a bin unseen in training
    gets the overall median.

    Raises:
        ValueError: fewer than two pairs.
    """
    if len(xs) < 2 or len(xs) != len(ys):
        raise ValueError("need at least two (view, secret) pairs of equal count")
    by_bin: defaultdict[int, list[int]] = defaultdict(list)
    for x, y in zip(xs[::2], ys[::2], strict=True):
        by_bin[x].append(y)
    guesses = {x: statistics.median(v) for x, v in by_bin.items()}
    fallback = statistics.median(ys[::2])
    errors = [abs(guesses.get(x, fallback) - y) for x, y in zip(xs[1::2], ys[1::2], strict=True)]
    return statistics.fmean(errors)


def estimate_leakage(views: Sequence[int], secrets_: Sequence[int]) -> LeakageEstimate:
    """Leakage of the views' orders of magnitude about the secrets' orders of magnitude.

    Args:
        views: what the party saw, one integer per trial (signed, centred on 0).
        secrets_: the value it should not learn (e.g. distance to the bound), same order.

    Returns:
        Mutual information, best-guess error and the secret's entropy, in bits.
    """
    xs = [magnitude_bin(v) for v in views]
    ys = [magnitude_bin(s) for s in secrets_]
    return LeakageEstimate(
        mutual_information_bits(xs, ys), guess_error_bits(xs, ys), entropy_bits(ys), len(xs)
    )


def independent_view(views: Sequence[int]) -> list[int]:
    """The same views in a random order: same distribution, independent of the data."""
    shuffled = list(views)
    random.SystemRandom().shuffle(shuffled)
    return shuffled
