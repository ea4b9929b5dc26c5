//! Integration tests: localize.
