//! When the anomaly started, if nobody says: every series votes for the moment it changed
//! most (Pettitt's rank test, so one spike or a heavy tail does not move it), weighted by how
//! sure the test is, and the moment most series agree on wins. A fault changes many series at
//! once (its own, its callers', the traffic); a batch job or a database's one-off step changes
//! one or two at their own time.

use super::series::Direction;

/// One series' change: the first row after it, and the test's evidence (−log10 p, capped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub row: usize,
    pub weight: f64,
}

/// Votes of a single series count at most this much: a step in a flat series is as certain
/// as a test can be, and still only one series.
const MAX_VOTE: f64 = 20.0;

/// Evidence below this (p ≥ 10⁻³) is no vote.
const MIN_VOTE: f64 = 3.0;

/// The most likely change in `values` (NaN = missing) in the direction that counts.
pub(crate) fn pettitt(values: &[f64], direction: Direction) -> Option<Change> {
    let present: Vec<(usize, f64)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, x)| x.is_finite())
        .collect();
    let n = present.len();
    if n < 8 {
        return None;
    }
    // Average ranks, ties shared.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| present[a].1.total_cmp(&present[b].1));
    let mut ranks = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && present[order[j + 1]].1 == present[order[i]].1 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    // U_t < 0 when the samples after t rank higher: a rise.
    let mut u = 0.0;
    let mut best: Option<(f64, usize)> = None;
    for (t, rank) in ranks.iter().enumerate().take(n - 1) {
        u += 2.0 * rank - (n as f64 + 1.0);
        let k = match direction {
            Direction::Up => -u,
            Direction::Both => u.abs(),
        };
        if best.is_none_or(|(b, _)| k > b) {
            best = Some((k, t));
        }
    }
    let (k, t) = best?;
    if k <= 0.0 {
        return None;
    }
    let nf = n as f64;
    // p ≈ 2·exp(−6K² / (n³ + n²)), as −log10 p.
    let log10_p =
        (2.0f64).log10() - 6.0 * k * k / (nf * nf * nf + nf * nf) / std::f64::consts::LN_10;
    Some(Change {
        row: present[t + 1].0,
        weight: (-log10_p).min(MAX_VOTE),
    })
}

/// The row where most evidence agrees a change began, given every series' change. The start
/// must leave `margin` rows on either side (a baseline to compare with, a window to score).
pub fn vote(changes: &[Change], rows: usize, margin: usize) -> Option<usize> {
    let votes: Vec<&Change> = changes
        .iter()
        .filter(|c| c.weight >= MIN_VOTE && c.row >= margin && c.row + margin <= rows)
        .collect();
    if votes.is_empty() {
        return None;
    }
    // A fault reaches its series over some seconds: votes within a band count together.
    let band = (rows / 60).max(2);
    let mut density = vec![0.0; rows + 1];
    for c in &votes {
        let (lo, hi) = (c.row.saturating_sub(band), (c.row + band).min(rows));
        for d in &mut density[lo..=hi] {
            *d += c.weight;
        }
    }
    let peak = (0..=rows).max_by(|&a, &b| density[a].total_cmp(&density[b]).then(b.cmp(&a)))?;
    // The earliest vote of the winning band: the first series to change is where it began.
    let mut members: Vec<usize> = votes
        .iter()
        .filter(|c| c.row + band >= peak && c.row <= peak + band)
        .map(|c| c.row)
        .collect();
    members.sort_unstable();
    // Not the very first (one early outlier), but early: the 10th percentile.
    members.get(members.len() / 10).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(n: usize, at: usize, jump: f64, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                noise + if i >= at { jump } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn finds_a_shift_despite_spikes_and_gaps() {
        let mut v = step(300, 200, 1.0, 1);
        v[50] = 100.0;
        v[120] = f64::NAN;
        let c = pettitt(&v, Direction::Up).unwrap();
        assert!((198..=202).contains(&c.row), "{c:?}");
        assert!(c.weight >= MAX_VOTE - 1e-9, "{c:?}");
        // A drop is no rise.
        let down = step(300, 200, -1.0, 2);
        assert!(pettitt(&down, Direction::Up).is_none_or(|c| c.weight < MIN_VOTE));
        assert!(pettitt(&down, Direction::Both).unwrap().weight >= MIN_VOTE);
    }

    #[test]
    fn many_series_outvote_one_loud_step() {
        let mut changes = vec![Change {
            row: 80,
            weight: 20.0,
        }];
        for row in [200, 201, 203, 205, 199] {
            changes.push(Change { row, weight: 8.0 });
        }
        let start = vote(&changes, 300, 20).unwrap();
        assert!((199..=201).contains(&start), "{start}");
        assert_eq!(
            vote(
                &[Change {
                    row: 5,
                    weight: 20.0
                }],
                300,
                20
            ),
            None
        );
    }
}
