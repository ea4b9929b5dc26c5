"""Pulls fields out of log lines with format-string patterns, as a log scraper would."""
import parse

LINES = [
    ("{:ti} {level} {msg}", "2024-03-01T12:15:30+02:00 INFO started"),
    ("{:ti} {level} {msg}", "2024-03-01 12:15 WARN slow"),
    ("took {:d} ms ({:f}%)", "took 42 ms (3.5%)"),
    ("{user[name]} <{user[email]}>", "Ada <ada@example.com>"),
]
for fmt, line in LINES:
    r = parse.parse(fmt, line)
    print(fmt, "->", r.fixed if r else None, r.named if r else None)
