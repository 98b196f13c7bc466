"""Synthetic users and streaming events with the Redis docs demo's distributions.

The stand-in for the offline store (batch features) and for the event stream
(streaming features). Same seed, same data.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fslib.schema import DEFAULT_SCHEMA, FeatureValue

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COUNTRIES",
    "SyntheticUsers",
    "entity_id",
    "streaming_features",
    "synthesize_users",
]

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "JP")
_RISK_SEGMENTS = ("low", "medium", "high")
_RISK_WEIGHTS = (70, 25, 5)
_CHARGEBACKS = (0, 1, 2, 3)
_CHARGEBACK_WEIGHTS = (85, 10, 4, 1)
_PLATFORMS = ("ios", "android", "web")
_FAILED_LOGINS = (0, 1, 2, 5)
_FAILED_LOGIN_WEIGHTS = (70, 20, 8, 2)


def entity_id(index: int) -> str:
    """The demo's id of the ``index``-th user (1-based): ``u0001``, ``u0002``, ..."""
    return f"u{index:04d}"


def _batch_features(rng: random.Random) -> dict[str, FeatureValue]:
    return {
        "country_iso": rng.choice(COUNTRIES),
        "risk_segment": rng.choices(_RISK_SEGMENTS, _RISK_WEIGHTS)[0],
        "account_age_days": rng.randint(7, 2400),
        "tx_count_7d": rng.randint(0, 80),
        "avg_amount_30d": round(rng.uniform(5.0, 350.0), 2),
        "chargeback_count_180d": rng.choices(_CHARGEBACKS, _CHARGEBACK_WEIGHTS)[0],
    }


class SyntheticUsers:
    """``n`` users' batch features, generated afresh on every iteration.

    Iterating yields ``(entity_id, features)`` pairs, so it can be passed to
    :meth:`fslib.FeatureStore.bulk_load` directly without holding all rows in
    memory, or turned into a dict, a list or a DataFrame.

    Args:
        n: How many users (``u0001`` .. ).
        seed: Same seed, same rows.
    """

    def __init__(self, n: int, seed: int = 42) -> None:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        self.n = n
        self.seed = seed

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[str, dict[str, FeatureValue]]]:
        rng = random.Random(self.seed)
        for index in range(1, self.n + 1):
            yield entity_id(index), _batch_features(rng)

    @property
    def ids(self) -> list[str]:
        """The entity ids, in order."""
        return [entity_id(i) for i in range(1, self.n + 1)]

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame indexed by ``entity_id``, typed by the default schema."""
        import pandas as pd

        frame = pd.DataFrame.from_dict(dict(self), orient="index", columns=DEFAULT_SCHEMA.batch_names)
        frame.index.name = "entity_id"
        return frame.astype({s.name: s.dtype for s in DEFAULT_SCHEMA if s.name in frame.columns})

    def __repr__(self) -> str:
        return f"SyntheticUsers(n={self.n}, seed={self.seed})"


def synthesize_users(n: int, seed: int = 42) -> SyntheticUsers:
    """Deterministic batch features for ``n`` users (the Redis docs demo's ``synthesize_users``).

    Args:
        n: How many users.
        seed: Same seed, same rows.

    Returns:
        A re-iterable of ``(entity_id, features)`` with ``len()`` and ``to_frame()``.
    """
    return SyntheticUsers(n, seed)


def streaming_features(rng: random.Random, now_ms: int | None = None) -> dict[str, FeatureValue]:
    """The real-time features one user event produces.

    Args:
        rng: Source of randomness (seed it for reproducible streams).
        now_ms: Event time in Unix milliseconds; defaults to now.

    Returns:
        Values for the five streaming features of the default schema.
    """
    return {
        "last_login_ts": int(time.time() * 1000) if now_ms is None else now_ms,
        "last_device_id": f"{rng.choice(_PLATFORMS)}-{rng.getrandbits(16):04x}",
        "tx_count_5m": rng.randint(0, 12),
        "failed_logins_15m": rng.choices(_FAILED_LOGINS, _FAILED_LOGIN_WEIGHTS)[0],
        "session_country": rng.choice(COUNTRIES),
    }
