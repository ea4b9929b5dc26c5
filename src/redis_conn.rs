//! Connections to Redis for the parts of healbot that share state between replicas: the audit
//! chain, locks, delivery claims, operation leases and the work queue. One way to connect and
//! one way to show a URL, so that none of them hangs on a dead Redis or logs its password.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Client;
use std::time::Duration;

/// A lazily connecting manager for healbot's other Redis users (claims, leases, the work queue,
/// the audit chain): a Redis that is down now shows at the first command, and a command fails
/// after `response` rather than hanging.
pub(crate) fn lazy_connection(
    url: &str,
    response: Duration,
) -> Result<ConnectionManager, ::redis::RedisError> {
    let client = Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response))
        .set_number_of_retries(1);
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Hides a password in `redis://user:secret@host` before it reaches a log or an error.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redacted("redis://u:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }
}
