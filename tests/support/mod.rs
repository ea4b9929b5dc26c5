//! Test support: servers and fakes the integration tests start (being written).
