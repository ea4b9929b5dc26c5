//! Integration tests: gitops.
