"""Payment processing for the shop's checkout: charge the customer, then email a receipt."""

from dataclasses import dataclass

from ledger import Ledger
from receipts import send_receipt
from users import find_user


@dataclass
class PaymentResult:
    payment_id: str
    amount_cents: int


_ledger = Ledger()


def process_payment(user_id: str, amount_cents: int) -> PaymentResult:
    """Charges `amount_cents` to the user's account and sends them a receipt."""
    if amount_cents <= 0:
        raise ValueError(f"amount must be positive, got {amount_cents}")
    user = find_user(user_id)
    payment_id = _ledger.charge(user.account_id, amount_cents)
    # Receipts go to the address on file.
    send_receipt(user.email, payment_id, amount_cents)
    return PaymentResult(payment_id=payment_id, amount_cents=amount_cents)
