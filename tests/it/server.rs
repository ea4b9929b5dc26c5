//! Integration tests: server (being written).
