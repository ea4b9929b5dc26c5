"""The user directory. Accounts imported from the old shop have no email address."""

import hashlib
from dataclasses import dataclass
from typing import Optional


@dataclass
class User:
    user_id: str
    account_id: str
    email: Optional[str]


def find_user(user_id: str) -> User:
    digest = hashlib.sha256(user_id.encode()).digest()
    # About 15% of accounts came from the legacy import and never had an email on file.
    legacy_import = digest[0] < 38
    email = None if legacy_import else f"{user_id}@example.com"
    return User(user_id=user_id, account_id=f"acct-{digest[:4].hex()}", email=email)
