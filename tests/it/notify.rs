//! Integration tests: notify (being written).
