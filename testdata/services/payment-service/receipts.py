"""Renders payment receipts and hands them to the mail relay."""

import hashlib

OUTBOX: list = []


def send_receipt(address: str, payment_id: str, amount_cents: int) -> None:
    local, domain = address.split("@", 1)
    body = (
        f"Hello {local},\n\n"
        f"we received your payment {payment_id} of {amount_cents / 100:.2f} EUR.\n"
    )
    # The relay wants a stable message id per receipt.
    message_id = hashlib.sha256(f"{payment_id}:{address}".encode()).hexdigest()[:16]
    OUTBOX.append({"to": address, "domain": domain, "id": message_id, "body": body})
