//! Integration tests: canary.
