//! Integration tests: fixes (being written).
