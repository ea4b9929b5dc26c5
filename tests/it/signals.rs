//! Integration tests: signals (being written).
