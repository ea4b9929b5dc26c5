//! Integration tests: forge.
