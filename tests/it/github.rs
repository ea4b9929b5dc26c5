//! Integration tests: github (being written).
