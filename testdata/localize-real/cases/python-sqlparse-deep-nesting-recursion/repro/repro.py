"""GHSA-2m57-hf25-phgg (CVE-2024-4340): a heavily nested statement makes sqlparse recurse until
Python's limit. A SQLParseError is the handled outcome (0.5.0); a RecursionError escaping is the
crash (0.4.4)."""
import sqlparse
from sqlparse.exceptions import SQLParseError

for sql in ["select a, b from t where c = 1", "[" * 10000 + "]" * 10000]:
    try:
        statements = sqlparse.parse(sql)
        print("parsed", len(statements), "statement(s),", sum(1 for _ in statements[0].flatten()), "tokens")
    except SQLParseError as e:
        print("rejected:", e)
