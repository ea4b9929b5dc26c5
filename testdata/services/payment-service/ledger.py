"""The payment ledger: records charges and hands out payment ids."""

import hashlib
import itertools


class Ledger:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.entries: list = []

    def charge(self, account_id: str, amount_cents: int) -> str:
        n = next(self._ids)
        payment_id = f"pay-{n:06d}"
        # Stands in for the card network round trip: a real hash chain over the entry.
        digest = f"{account_id}:{amount_cents}:{n}".encode()
        for _ in range(200):
            digest = hashlib.sha256(digest).digest()
        self.entries.append((payment_id, account_id, amount_cents, digest.hex()))
        return payment_id
