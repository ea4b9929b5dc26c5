//! Trace evidence: where errors and latency begin in the spans. An error that a span reports
//! while none of its children did began in that span's service; time a span spends outside
//! its children (its self time) is the service's own. Both are compared before and after the
//! anomaly start, so a service that is always slow or always noisy is not blamed for it.

use crate::signals::traces::Span;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One service's trace evidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TraceEvidence {
    /// In [0, 2]: the share of new error origins that are this service's, plus how much its
    /// self time grew (a doubling is 0.5, four times or more is 1).
    pub score: f64,
    /// Errors that began in this service after the start.
    pub error_origins: u64,
    /// Median self time after the start over before it; absent without spans on both sides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_time_ratio: Option<f64>,
}

/// Evidence per service from `spans`, split at `anomaly_start` (unix seconds).
pub fn evidence(spans: &[Span], anomaly_start: f64) -> HashMap<String, TraceEvidence> {
    let start_ns = (anomaly_start.max(0.0) * 1e9) as u64;
    let by_id: HashMap<(&str, &str), usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.trace_id.as_str(), s.span_id.as_str()), i))
        .collect();
    let mut child_time = vec![0u64; spans.len()];
    let mut erring_parents: HashSet<usize> = HashSet::new();
    for s in spans {
        if let Some(&p) = s
            .parent_id
            .as_deref()
            .and_then(|p| by_id.get(&(s.trace_id.as_str(), p)))
        {
            child_time[p] = child_time[p].saturating_add(s.end_ns.saturating_sub(s.start_ns));
            if s.error {
                erring_parents.insert(p);
            }
        }
    }
    let mut origins: HashMap<&str, u64> = HashMap::new();
    let mut before: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut after: HashMap<&str, Vec<u64>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        let late = s.start_ns >= start_ns;
        if late && s.error && !erring_parents.contains(&i) {
            *origins.entry(&s.service).or_default() += 1;
        }
        let own = s
            .end_ns
            .saturating_sub(s.start_ns)
            .saturating_sub(child_time[i]);
        if late { &mut after } else { &mut before }
            .entry(&s.service)
            .or_default()
            .push(own);
    }
    let all_origins: u64 = origins.values().sum();
    let mut services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    services.extend(origins.keys());
    services
        .into_iter()
        .map(|service| {
            let error_origins = origins.get(service).copied().unwrap_or(0);
            let ratio = match (before.get_mut(service), after.get_mut(service)) {
                (Some(b), Some(a)) if !b.is_empty() && !a.is_empty() => {
                    let (mb, ma) = (median(b), median(a));
                    Some(ma.max(1.0) / mb.max(1.0))
                }
                _ => None,
            };
            let errors = if all_origins > 0 {
                error_origins as f64 / all_origins as f64
            } else {
                0.0
            };
            let slower = ratio.map_or(0.0, |r| (r.max(1.0).log2() / 2.0).min(1.0));
            (
                service.to_string(),
                TraceEvidence {
                    score: errors + slower,
                    error_origins,
                    self_time_ratio: ratio,
                },
            )
        })
        .collect()
}

fn median(xs: &mut [u64]) -> f64 {
    xs.sort_unstable();
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2] as f64
    } else {
        (xs[n / 2 - 1] as f64 + xs[n / 2] as f64) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        trace: &str,
        id: &str,
        parent: Option<&str>,
        service: &str,
        at: u64,
        ms: u64,
        error: bool,
    ) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_id: parent.map(str::to_string),
            service: service.into(),
            name: "op".into(),
            start_ns: at * 1_000_000_000,
            end_ns: at * 1_000_000_000 + ms * 1_000_000,
            error,
            message: None,
        }
    }

    #[test]
    fn errors_begin_where_no_child_erred_and_self_time_is_compared() {
        let mut spans = Vec::new();
        // Before the start (t < 100): front 30 ms with a 10 ms call to db.
        for t in 0..5u64 {
            let tr = format!("b{t}");
            spans.push(span(&tr, "1", None, "front", 10 + t, 30, false));
            spans.push(span(&tr, "2", Some("1"), "db", 10 + t, 10, false));
        }
        // After: db takes 80 ms and fails; front fails because db did.
        for t in 0..5u64 {
            let tr = format!("a{t}");
            spans.push(span(&tr, "1", None, "front", 100 + t, 100, true));
            spans.push(span(&tr, "2", Some("1"), "db", 100 + t, 80, true));
        }
        let e = evidence(&spans, 100.0);
        let db = &e["db"];
        assert_eq!(db.error_origins, 5);
        assert_eq!(db.self_time_ratio, Some(8.0));
        assert!((db.score - 2.0).abs() < 1e-9, "{db:?}");
        let front = &e["front"];
        assert_eq!(front.error_origins, 0);
        assert_eq!(front.self_time_ratio, Some(1.0));
        assert_eq!(front.score, 0.0);
    }
}
