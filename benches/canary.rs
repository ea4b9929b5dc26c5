//! Canary judge benchmark (issue 7): the whole judge on 100,000 samples per series for three
//! metrics, which must stay well under a canary step's wait. The pairwise differences behind
//! the Hodges–Lehmann interval (10^10 per metric here) are never built, so this measures the
//! sorts and the O(n) counting passes of the selection. `cargo bench --bench canary -- --test`
//! runs each case once.

use criterion::{criterion_group, criterion_main, Criterion};
use healbot::canary::stats;
use healbot::canary::{judge, CanaryVerdict, JudgeConfig};
use healbot::model::MetricSamples;
use std::hint::black_box;
use std::time::Duration;

const SAMPLES: usize = 100_000;

/// Deterministic noise in [0, 1) (a 64-bit LCG), so runs compare.
fn noise(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Error rate, latency (rounded to 0.1 ms, so heavily tied) and CPU, shifted by `shift`.
fn side(seed: u64, shift: f64) -> MetricSamples {
    let mut m = MetricSamples::new();
    m.insert(
        "error_rate".into(),
        noise(seed, SAMPLES)
            .into_iter()
            .map(|u| 0.01 * (1.0 + shift) * (0.5 + u))
            .collect(),
    );
    m.insert(
        "latency_p99".into(),
        noise(seed + 1, SAMPLES)
            .into_iter()
            .map(|u| ((200.0 * (1.0 + shift) - 50.0 * u.ln()) * 10.0).round() / 10.0)
            .collect(),
    );
    m.insert(
        "cpu".into(),
        noise(seed + 2, SAMPLES)
            .into_iter()
            .map(|u| 0.4 + 0.1 * u)
            .collect(),
    );
    m
}

fn judge_100k(c: &mut Criterion) {
    let baseline = side(1, 0.0);
    let healthy = side(2, 0.0);
    let worse = side(3, 0.02);
    let cfg = JudgeConfig::default();
    assert_eq!(
        judge(&baseline, &healthy, &cfg).verdict,
        CanaryVerdict::Pass
    );
    assert_eq!(judge(&baseline, &worse, &cfg).verdict, CanaryVerdict::Fail);

    let mut group = c.benchmark_group("canary_judge");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("3_metrics_100k_samples_pass", |b| {
        b.iter(|| judge(black_box(&baseline), black_box(&healthy), &cfg))
    });
    group.bench_function("3_metrics_100k_samples_fail", |b| {
        b.iter(|| judge(black_box(&baseline), black_box(&worse), &cfg))
    });
    group.finish();

    let x = &healthy["latency_p99"];
    let y = &baseline["latency_p99"];
    let mut group = c.benchmark_group("canary_stats");
    group.sample_size(10);
    group.bench_function("mann_whitney_100k", |b| {
        b.iter(|| stats::mann_whitney_u(black_box(x), black_box(y)))
    });
    group.bench_function("hodges_lehmann_ci_100k", |b| {
        b.iter(|| stats::hodges_lehmann(black_box(x), black_box(y), 0.98))
    });
    group.finish();
}

criterion_group!(benches, judge_100k);
criterion_main!(benches);
