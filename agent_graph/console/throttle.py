"""Failed sign-ins slow a password guesser down to a handful of tries per quarter of an hour.

Failures are counted in a moving window (the ``limits`` library, in this process's memory) twice:
per name and client address, so one person mistyping locks out only themself from where they
are, and per client address, so one address cannot try many names. A success counts nothing.
Behind a reverse proxy, uvicorn takes the client's address from ``X-Forwarded-For`` when the proxy
is one it trusts (127.0.0.1 by default; ``FORWARDED_ALLOW_IPS`` names others); otherwise every
client has the proxy's address, and the per-address limit is generous for that reason.
Each console process counts its own failures; they are forgotten when it restarts.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

PER_NAME_AND_ADDRESS = "5/15 minutes"
PER_ADDRESS = "30/15 minutes"


class SignInThrottle:
    """How long a sign-in attempt must wait; the failures that make it wait."""

    def __init__(self, per_name_and_address: str = PER_NAME_AND_ADDRESS, per_address: str = PER_ADDRESS):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_pair: RateLimitItem = parse(per_name_and_address)
        self._per_address: RateLimitItem = parse(per_address)

    def _limits(self, name: str, address: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        # Case-folded ("Alice" and "alice" share a count) and cut to a sane length.
        return [(self._per_pair, ("pair", address, name.casefold()[:200])), (self._per_address, ("address", address))]

    def wait_seconds(self, name: str, address: str) -> int:
        """0 when an attempt may go ahead; otherwise the whole seconds until the oldest failure
        counted against it leaves its window."""
        waits = [self._limiter.get_window_stats(item, *keys).reset_time - time.time()
                 for item, keys in self._limits(name, address) if not self._limiter.test(item, *keys)]
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, name: str, address: str) -> None:
        for item, keys in self._limits(name, address):
            self._limiter.hit(item, *keys)
