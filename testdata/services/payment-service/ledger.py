"""The payment ledger: records charges and hands out payment ids."""

import hashlib
import itertools
import time

# The card network answers in about two milliseconds; the ledger waits for it on every charge.
CARD_NETWORK_SECONDS = 0.002


class Ledger:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.entries: list = []

    def charge(self, account_id: str, amount_cents: int) -> str:
        n = next(self._ids)
        payment_id = f"pay-{n:06d}"
        time.sleep(CARD_NETWORK_SECONDS)
        digest = hashlib.sha256(f"{account_id}:{amount_cents}:{n}".encode()).hexdigest()
        self.entries.append((payment_id, account_id, amount_cents, digest))
        return payment_id
