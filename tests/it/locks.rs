//! Integration tests: locks (being written).
