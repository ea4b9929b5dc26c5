//! Integration tests: repair (being written).
