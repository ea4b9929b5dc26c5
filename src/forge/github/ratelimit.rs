//! GitHub's rate limits, read from a response: how long to wait before trying again. Kept pure
//! (headers in, duration out) so the rules are tested without a server.

use std::time::Duration;

/// How hard to retry a rate-limited call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First wait on a secondary limit without `retry-after`; doubled on each retry.
    pub backoff_base: Duration,
    /// A wait longer than this is not waited out: the call fails and says so.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// The rate-limit facts of one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LimitHeaders {
    pub retry_after: Option<u64>,
    pub remaining: Option<u64>,
    /// Unix seconds when the window resets.
    pub reset: Option<u64>,
}

impl LimitHeaders {
    pub fn parse(header: impl Fn(&str) -> Option<String>) -> LimitHeaders {
        let num = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
        LimitHeaders {
            retry_after: num("retry-after"),
            remaining: num("x-ratelimit-remaining"),
            reset: num("x-ratelimit-reset"),
        }
    }

    /// When the primary limit is used up, the time until it resets.
    pub(crate) fn exhausted_for(&self, now_unix: u64) -> Option<Duration> {
        match (self.remaining, self.reset) {
            (Some(0), Some(reset)) => Some(Duration::from_secs(reset.saturating_sub(now_unix))),
            _ => None,
        }
    }
}

/// The wait before retry number `attempt` (0 for the first retry), or `None` when the
/// response is not a rate limit and should be returned as it is.
pub(crate) fn retry_wait(
    status: u16,
    limits: &LimitHeaders,
    body: &str,
    attempt: u32,
    now_unix: u64,
    policy: &RetryPolicy,
) -> Option<Duration> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = limits.retry_after {
        return Some(Duration::from_secs(secs));
    }
    if let Some(wait) = limits.exhausted_for(now_unix) {
        // The reset is in whole seconds; a second more makes sure the window has turned.
        return Some(wait + Duration::from_secs(1));
    }
    let secondary = body.to_ascii_lowercase().contains("secondary rate limit");
    if secondary || status == 429 {
        return Some(policy.backoff_base.saturating_mul(1u32 << attempt.min(16)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(
        retry_after: Option<u64>,
        remaining: Option<u64>,
        reset: Option<u64>,
    ) -> LimitHeaders {
        LimitHeaders {
            retry_after,
            remaining,
            reset,
        }
    }

    #[test]
    fn retry_after_wins() {
        let p = RetryPolicy::default();
        let l = limits(Some(7), Some(0), Some(100));
        assert_eq!(
            retry_wait(429, &l, "", 0, 0, &p),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn exhausted_primary_waits_for_reset() {
        let p = RetryPolicy::default();
        let l = limits(None, Some(0), Some(130));
        assert_eq!(
            retry_wait(403, &l, "", 0, 100, &p),
            Some(Duration::from_secs(31))
        );
    }

    #[test]
    fn secondary_limits_back_off_exponentially() {
        let p = RetryPolicy::default();
        let body = r#"{"message":"You have exceeded a secondary rate limit."}"#;
        let l = LimitHeaders::default();
        assert_eq!(
            retry_wait(403, &l, body, 0, 0, &p),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_wait(403, &l, body, 2, 0, &p),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn a_plain_forbidden_is_not_retried() {
        let p = RetryPolicy::default();
        let l = limits(None, Some(10), Some(0));
        assert_eq!(
            retry_wait(403, &l, "Resource not accessible", 0, 0, &p),
            None
        );
        assert_eq!(retry_wait(500, &l, "", 0, 0, &p), None);
    }

    #[test]
    fn headers_parse_leniently() {
        let l = LimitHeaders::parse(|name| match name {
            "retry-after" => Some(" 3 ".into()),
            "x-ratelimit-remaining" => Some("nope".into()),
            _ => None,
        });
        assert_eq!(l, limits(Some(3), None, None));
    }
}
