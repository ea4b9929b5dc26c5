"""Prints a latency report where some measurements are missing, as a benchmark CLI would."""
from tabulate import tabulate

rows = [["GET /", 12.5, 3], ["POST /login", None, 7], ["GET /health", 0.8, None]]
print(tabulate(rows, headers=["route", "p50 ms", "errors"], floatfmt=".1f", missingval="-"))
print(tabulate(rows, headers=["route", "p50 ms", "errors"], tablefmt="pipe", colalign=("left", "right", "decimal")))
