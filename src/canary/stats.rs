//! The statistics behind the canary judge: the Mann-Whitney U test and the Hodges–Lehmann
//! estimate with its Mann-Whitney confidence interval. They live apart from the judge so their
//! numbers can be checked on their own against the reference implementations (scipy for the
//! p-value, R's `wilcox.test` — which Kayenta ports — for the interval).
//!
//! Everything here is O(n log n) in the sample sizes, so a judge on 100,000 samples per series
//! stays fast:
//! - the U statistic and its tie correction come from one merge of the two sorted samples;
//! - the pairwise differences `x[i] - y[j]` (10^10 of them at that size) are never built. The
//!   k-th smallest is found by Floyd–Rivest selection over the implicit, row- and
//!   column-sorted matrix of differences: a sample of the differences inside the current
//!   bracket gives two pivots that straddle rank k, one O(m + n) two-pointer pass counts the
//!   differences below each, and once at most 2(m + n) are left they are listed and selected
//!   directly. That is three or four rounds of two passes per order statistic at 10^10
//!   differences, against up to 64 passes for plain bisection on the value, which also stalls
//!   on clustered data; Monahan's algorithm takes one random pivot per pass, so more passes.
//!   The sampling has a fixed seed, and the answer is exactly one of the differences whatever
//!   the draw.

use thiserror::Error;

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    #[error("the {0} sample is empty")]
    Empty(&'static str),
    #[error("the {0} sample holds a value that is not a finite number (or is too large)")]
    NonFinite(&'static str),
    #[error("confidence must lie strictly between 0 and 1, got {0}")]
    Confidence(f64),
    #[error("the {0} sample is not sorted in ascending order")]
    NotSorted(&'static str),
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (`x`), as scipy reports it.
    pub u: f64,
    /// Standardised statistic, continuity-corrected, of `max(U1, U2)`.
    pub z: f64,
    /// Two-sided p-value from the normal approximation.
    pub p_value: f64,
}

/// Hodges–Lehmann shift estimate of `x - y` and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HodgesLehmann {
    /// Median of all pairwise differences `x[i] - y[j]`.
    pub estimate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
}

/// Both results for one pair of samples, computed from one sort of each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub mann_whitney: MannWhitney,
    pub hodges_lehmann: HodgesLehmann,
}

/// Two-sided Mann-Whitney U test of `x` against `y` with tie correction and the normal
/// approximation with continuity correction; agrees with
/// `scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='asymptotic')`.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitney, StatsError> {
    let (xs, ys) = sorted_pair(x, y)?;
    Ok(mann_whitney_sorted(&xs, &ys))
}

/// Hodges–Lehmann estimate of the shift `x - y` with the Mann-Whitney confidence interval at
/// `confidence` (Kayenta uses 0.98).
pub fn hodges_lehmann(x: &[f64], y: &[f64], confidence: f64) -> Result<HodgesLehmann, StatsError> {
    check_confidence(confidence)?;
    let (xs, ys) = sorted_pair(x, y)?;
    Ok(hodges_lehmann_sorted(&xs, &ys, confidence))
}

/// Mann-Whitney test and Hodges–Lehmann interval of `x` (the canary) against `y` (the
/// baseline), sorting each sample once.
pub fn compare(x: &[f64], y: &[f64], confidence: f64) -> Result<Comparison, StatsError> {
    check_confidence(confidence)?;
    let (xs, ys) = sorted_pair(x, y)?;
    Ok(Comparison {
        mann_whitney: mann_whitney_sorted(&xs, &ys),
        hodges_lehmann: hodges_lehmann_sorted(&xs, &ys, confidence),
    })
}

/// [`compare`] for samples the caller has already sorted ascending (saves two sorts).
pub(crate) fn compare_sorted(
    x_sorted: &[f64],
    y_sorted: &[f64],
    confidence: f64,
) -> Result<Comparison, StatsError> {
    check_confidence(confidence)?;
    for (which, values) in [("first", x_sorted), ("second", y_sorted)] {
        check_values(which, values)?;
        if !values.is_sorted_by(|a, b| a <= b) {
            return Err(StatsError::NotSorted(which));
        }
    }
    Ok(Comparison {
        mann_whitney: mann_whitney_sorted(x_sorted, y_sorted),
        hodges_lehmann: hodges_lehmann_sorted(x_sorted, y_sorted, confidence),
    })
}

/// Arithmetic mean; `None` for an empty slice.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Median; `None` for an empty slice.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Upper tail of the standard normal distribution, `P(Z > z)` (scipy's `norm.sf`).
pub(crate) fn norm_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Quantile of the standard normal distribution (scipy's `norm.ppf`), by Wichura's AS 241
/// (relative error about 1e-16). `p` outside [0, 1] gives NaN.
pub(crate) fn norm_ppf(p: f64) -> f64 {
    // Coefficients of AS 241 (PPND16), lowest power first.
    const A: [f64; 8] = [
        3.3871328727963665,
        133.14166789178438,
        1971.5909503065513,
        13731.69376550946,
        45921.95393154987,
        67265.7709270087,
        33430.57558358813,
        2509.0809287301227,
    ];
    const B: [f64; 8] = [
        1.0,
        42.31333070160091,
        687.1870074920579,
        5394.196021424751,
        21213.794301586597,
        39307.89580009271,
        28729.085735721943,
        5226.495278852546,
    ];
    const C: [f64; 8] = [
        1.4234371107496835,
        4.630337846156546,
        5.769497221460691,
        3.6478483247632045,
        1.2704582524523684,
        0.2417807251774506,
        0.022723844989269184,
        0.0007745450142783414,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053191626637759,
        1.6763848301838038,
        0.6897673349851,
        0.14810397642748008,
        0.015198666563616457,
        0.0005475938084995345,
        1.0507500716444169e-09,
    ];
    const E: [f64; 8] = [
        6.657904643501103,
        5.463784911164114,
        1.7848265399172913,
        0.29656057182850487,
        0.026532189526576124,
        0.0012426609473880784,
        2.7115555687434876e-05,
        2.0103343992922881e-07,
    ];
    const F: [f64; 8] = [
        1.0,
        0.599832206555888,
        0.1369298809227358,
        0.014875361290850615,
        0.0007868691311456133,
        1.8463183175100548e-05,
        1.421511758316446e-07,
        2.0442631033899397e-15,
    ];
    fn poly(c: &[f64; 8], r: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * r + k)
    }
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-tail.ln()).sqrt();
    let val = if r <= 5.0 {
        poly(&C, r - 1.6) / poly(&D, r - 1.6)
    } else {
        poly(&E, r - 5.0) / poly(&F, r - 5.0)
    };
    if q < 0.0 {
        -val
    } else {
        val
    }
}

fn check_confidence(confidence: f64) -> Result<(), StatsError> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(StatsError::Confidence(confidence))
    }
}

fn sorted_pair(x: &[f64], y: &[f64]) -> Result<(Vec<f64>, Vec<f64>), StatsError> {
    Ok((sorted("first", x)?, sorted("second", y)?))
}

fn check_values(which: &'static str, values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty(which));
    }
    // Beyond MAX / 4 a difference of two values could overflow to infinity.
    if values
        .iter()
        .any(|v| v.is_nan() || v.abs() > f64::MAX / 4.0)
    {
        return Err(StatsError::NonFinite(which));
    }
    Ok(())
}

fn sorted(which: &'static str, values: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_values(which, values)?;
    let mut v = values.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    Ok(v)
}

/// `sum(t^3 - t)` over the groups of tied values of a sorted slice.
fn tie_term(sorted: &[f64]) -> f64 {
    let mut total = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let start = i;
        while i < sorted.len() && sorted[i] == sorted[start] {
            i += 1;
        }
        let t = (i - start) as f64;
        total += t * t * t - t;
    }
    total
}

/// Standard deviation of U under the null hypothesis with the tie correction.
fn u_sigma(m: f64, n: f64, ties: f64) -> f64 {
    let total = m + n;
    let var = m * n / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    var.max(0.0).sqrt()
}

fn mann_whitney_sorted(xs: &[f64], ys: &[f64]) -> MannWhitney {
    // One merge gives the rank sum of x (average ranks for ties) and the tie groups.
    let (mut i, mut j) = (0usize, 0usize);
    let mut ranked = 0.0f64;
    let mut rank_sum_x = 0.0f64;
    let mut ties = 0.0f64;
    loop {
        let v = match (xs.get(i), ys.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let (i0, j0) = (i, j);
        while i < xs.len() && xs[i] == v {
            i += 1;
        }
        while j < ys.len() && ys[j] == v {
            j += 1;
        }
        let in_x = (i - i0) as f64;
        let t = in_x + (j - j0) as f64;
        rank_sum_x += in_x * (ranked + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        ranked += t;
    }
    let (m, n) = (xs.len() as f64, ys.len() as f64);
    let u1 = rank_sum_x - m * (m + 1.0) / 2.0;
    let u = u1.max(m * n - u1);
    let sigma = u_sigma(m, n, ties);
    if sigma == 0.0 || !sigma.is_finite() {
        // Every value tied (or a single observation in all): no evidence of any shift.
        return MannWhitney {
            u: u1,
            z: 0.0,
            p_value: 1.0,
        };
    }
    let z = (u - m * n / 2.0 - 0.5) / sigma;
    MannWhitney {
        u: u1,
        z,
        p_value: (2.0 * norm_sf(z)).clamp(0.0, 1.0),
    }
}

/// The interval is the one R's `wilcox.test(x, y, conf.int = TRUE, exact = FALSE)` finds by
/// root-finding (and Kayenta ports): the shifts `d` at which the continuity-corrected,
/// tie-corrected standardised U of `x - d` against `y` crosses `±z`. That statistic is a step
/// function of `d` that jumps only at the pairwise differences, so its roots are order
/// statistics of the differences whose ranks follow from the normal approximation in closed
/// form; we select them exactly instead of running `uniroot` (whose 1e-4 absolute tolerance is
/// coarse for metrics such as error rates).
fn hodges_lehmann_sorted(xs: &[f64], ys: &[f64], confidence: f64) -> HodgesLehmann {
    let pairs = xs.len() as u64 * ys.len() as u64;
    let mn = pairs as f64;
    let half = (pairs / 2).max(1);
    let lower_mid = kth_difference(xs, ys, half);
    let estimate = if pairs % 2 == 1 {
        kth_difference(xs, ys, pairs / 2 + 1)
    } else {
        (lower_mid + next_difference_above(xs, ys, lower_mid, half)) / 2.0
    };

    // Between differences, ties exist only within each sample.
    let sigma = u_sigma(
        xs.len() as f64,
        ys.len() as f64,
        tie_term(xs) + tie_term(ys),
    );
    let z = norm_ppf(1.0 - (1.0 - confidence) / 2.0);
    let rank = |r: f64| -> u64 {
        if r.is_nan() {
            return 1;
        }
        r.ceil().clamp(1.0, mn) as u64
    };
    let low_rank = rank(mn / 2.0 - 0.5 - z * sigma);
    let high_rank = rank(mn / 2.0 + 0.5 + z * sigma);
    HodgesLehmann {
        estimate,
        ci_low: kth_difference(xs, ys, low_rank),
        ci_high: kth_difference(xs, ys, high_rank),
        confidence,
    }
}

/// Number of pairs with `x[i] - y[j] <= d`; both slices sorted ascending. Floating-point
/// subtraction is monotone in each operand, so the pairs that qualify in row `i` are a suffix
/// of `y` whose start only moves right as `i` grows.
fn count_at_most(xs: &[f64], ys: &[f64], d: f64) -> u64 {
    let mut j = 0usize;
    let mut count = 0u64;
    for &x in xs {
        while j < ys.len() && x - ys[j] > d {
            j += 1;
        }
        count += (ys.len() - j) as u64;
    }
    count
}

/// How many differences each narrowing step of [`kth_difference`] samples.
const SAMPLE: usize = 4096;

/// A bound of the selection bracket: a value, how many differences are `<=` it, and in each
/// row `i` the first `j` with `x[i] - y[j] <= value` (the differences `<=` it are `y[j..]`).
struct Bound {
    value: f64,
    count: u64,
    rows: Vec<usize>,
}

impl Bound {
    /// Computes the bound at `value`, reusing `rows`' allocation.
    fn at(xs: &[f64], ys: &[f64], value: f64, mut rows: Vec<usize>) -> Bound {
        let count = boundaries(xs, ys, value, &mut rows);
        Bound { value, count, rows }
    }
}

/// The k-th smallest (1-based) of the pairwise differences `x[i] - y[j]`.
///
/// Floyd–Rivest selection over the implicit matrix of differences: keep a bracket `(lo, hi]`
/// with `count(lo) < k <= count(hi)`; sample [`SAMPLE`] of the differences inside it, take the
/// two sample values whose ranks straddle k's expected rank by three standard deviations as
/// new bounds (one O(m + n) counting pass each), until at most 2(m + n) differences are left
/// to list and select directly. Pivots are chosen by rank, not value, so clustered or
/// wide-ranging data converge as fast as smooth data: three or four steps for 10^10
/// differences. The sampling uses a fixed seed, so runs are reproducible, and the answer is
/// exact whatever the draw.
fn kth_difference(xs: &[f64], ys: &[f64], k: u64) -> f64 {
    let (Some(&x_min), Some(&x_max), Some(&y_min), Some(&y_max)) =
        (xs.first(), xs.last(), ys.first(), ys.last())
    else {
        return f64::NAN;
    };
    let total = xs.len() as u64 * ys.len() as u64;
    let k = k.clamp(1, total);
    let budget = (2 * (xs.len() + ys.len())).max(4 * SAMPLE) as u64;
    // Below every difference: no j qualifies in any row. Above: every j does.
    let mut lo = Bound {
        value: below(x_min - y_max),
        count: 0,
        rows: vec![ys.len(); xs.len()],
    };
    let mut hi = Bound {
        value: x_max - y_min,
        count: total,
        rows: vec![0; xs.len()],
    };
    let mut rng = SplitMix64(k ^ total.rotate_left(32));
    let mut spare: Vec<usize> = Vec::with_capacity(xs.len());
    let mut sample: Vec<f64> = Vec::with_capacity(SAMPLE);
    let mut offsets: Vec<u64> = Vec::with_capacity(SAMPLE);
    while hi.count - lo.count > budget {
        let inside = hi.count - lo.count;
        offsets.clear();
        offsets.extend((0..SAMPLE).map(|_| rng.below(inside)));
        offsets.sort_unstable();
        sample.clear();
        let mut next = offsets.iter().copied().peekable();
        let mut seen = 0u64;
        for ((&x, &start), &end) in xs.iter().zip(&hi.rows).zip(&lo.rows) {
            let len = (end - start) as u64;
            while let Some(offset) = next.next_if(|&o| o < seen + len) {
                sample.push(x - ys[start + (offset - seen) as usize]);
            }
            seen += len;
        }
        sample.sort_unstable_by(f64::total_cmp);
        let expected = (k - lo.count) as f64 / inside as f64 * sample.len() as f64;
        let spread = 1.5 * (sample.len() as f64).sqrt(); // three standard deviations at most
        for pick in [(expected - spread).floor(), (expected + spread).ceil()] {
            if pick < 0.0 {
                continue;
            }
            let Some(&pivot) = sample.get(pick as usize) else {
                continue;
            };
            if pivot <= lo.value || pivot >= hi.value {
                continue;
            }
            let bound = Bound::at(xs, ys, pivot, std::mem::take(&mut spare));
            let replaced = if bound.count >= k { &mut hi } else { &mut lo };
            spare = std::mem::replace(replaced, bound).rows;
        }
        if hi.count - lo.count == inside {
            // No pivot fell strictly inside: the bracket is one long run of differences equal
            // to `hi` (always one of the differences), or nearly so.
            let bound = Bound::at(xs, ys, below(hi.value), std::mem::take(&mut spare));
            if bound.count < k {
                return hi.value + 0.0;
            }
            spare = std::mem::replace(&mut hi, bound).rows;
        }
    }
    // List the differences in (lo, hi] and select among them.
    let mut candidates = Vec::with_capacity((hi.count - lo.count) as usize);
    for ((&x, &start), &end) in xs.iter().zip(&hi.rows).zip(&lo.rows) {
        candidates.extend(ys[start..end].iter().map(|&y| x - y));
    }
    let Some(index) = usize::try_from(k - lo.count - 1)
        .ok()
        .filter(|&i| i < candidates.len())
    else {
        return hi.value + 0.0;
    };
    let (_, kth, _) = candidates.select_nth_unstable_by(index, f64::total_cmp);
    // `+ 0.0` turns a -0.0 into 0.0.
    *kth + 0.0
}

/// Fills `rows[i]` with the first `j` such that `x[i] - y[j] <= d` and returns how many pairs
/// satisfy it. Floating-point subtraction is monotone in each operand, so that first `j` only
/// moves right as `x` grows.
fn boundaries(xs: &[f64], ys: &[f64], d: f64, rows: &mut Vec<usize>) -> u64 {
    rows.clear();
    let mut j = 0usize;
    let mut count = 0u64;
    for &x in xs {
        while j < ys.len() && x - ys[j] > d {
            j += 1;
        }
        rows.push(j);
        count += (ys.len() - j) as u64;
    }
    count
}

/// A small, seeded generator for the selection's samples (no dependency, reproducible runs).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by the multiply-shift method.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// The largest `f64` numerically below `v` (for finite `v`).
fn below(v: f64) -> f64 {
    if v == 0.0 {
        return -f64::from_bits(1);
    }
    from_order_key(order_key(v) - 1)
}

/// The (k+1)-th smallest difference, given that `d` is the k-th: `d` again if it repeats,
/// else the smallest difference above it (one two-pointer pass instead of another bisection).
fn next_difference_above(xs: &[f64], ys: &[f64], d: f64, k: u64) -> f64 {
    if count_at_most(xs, ys, d) > k {
        return d;
    }
    let mut j = 0usize;
    let mut best = f64::INFINITY;
    for &x in xs {
        while j < ys.len() && x - ys[j] > d {
            j += 1;
        }
        // In row i the differences above d are y[..j]; the smallest of them is at j - 1.
        if j > 0 {
            best = best.min(x - ys[j - 1]);
        }
    }
    if best.is_finite() {
        best
    } else {
        d
    }
}

fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Deterministic sample shared with the scipy script that produced the references:
    /// `((i * mul) % modulus) / 10 + shift`, exact in both languages.
    fn series(n: u64, mul: u64, modulus: u64, shift: f64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * mul) % modulus) as f64 / 10.0 + shift)
            .collect()
    }

    fn brute_differences(x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut d: Vec<f64> = x
            .iter()
            .flat_map(|a| y.iter().map(move |b| a - b))
            .collect();
        d.sort_unstable_by(f64::total_cmp);
        d
    }

    const SCIPY_SEPARATED: f64 = 0.012185780355344813;
    const SCIPY_TIES_U: f64 = 11.0;
    const SCIPY_TIES: f64 = 0.04988443697992588;
    const SCIPY_UNEQUAL_U: f64 = 31.5;
    const SCIPY_UNEQUAL: f64 = 0.05671061801818179;
    const SCIPY_LARGE_U: f64 = 9671120.0;
    const SCIPY_LARGE: f64 = 0.007249899488205185;
    const SCIPY_GRID_U: f64 = 306019200.0;
    const SCIPY_GRID: f64 = 0.0001403145995319212;
    const SCIPY_GRID_NULL_U: f64 = 300363000.0;
    const SCIPY_GRID_NULL: f64 = 0.983360262610659;

    /// `(x, y, (ci_low, estimate, ci_high))` from R; see `interval_agrees_with_r_wilcox_test`.
    #[allow(clippy::type_complexity)]
    fn r_cases() -> Vec<(Vec<f64>, Vec<f64>, (f64, f64, f64))> {
        vec![
            (
                series(37, 13, 41, 0.5),
                series(24, 7, 29, 0.0),
                (0.3999564079, 1.1, 1.8000221943),
            ),
            (
                vec![1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0],
                vec![2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0],
                (-3.0000466406, -1.0000286119, 0.0000495633),
            ),
            (
                vec![
                    120.0, 131.0, 118.0, 140.0, 152.0, 128.0, 133.0, 149.0, 160.0, 125.0, 138.0,
                ],
                vec![
                    101.0, 99.0, 110.0, 97.0, 120.0, 105.0, 108.0, 102.0, 111.0, 95.0, 100.0,
                    104.0, 98.0,
                ],
                (19.999983069, 30.0000365579, 44.0000083895),
            ),
            (
                series(300, 7919, 1000, 2.0),
                series(250, 104_729, 1003, 0.0),
                (-3.7000200521, 2.1999717123, 8.1999321658),
            ),
            (
                series(5, 3, 7, 0.0),
                series(9, 5, 11, 0.0),
                (-0.7000605707, -0.2, 0.299983073),
            ),
        ]
    }

    #[test]
    fn order_keys_round_trip_and_sort() {
        let values = [-1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, 1e300];
        for w in values.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]));
        }
        for v in values {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }

    // Every p-value below is scipy 1.17.1's
    // `mannwhitneyu(x, y, alternative='two-sided', method='asymptotic')`.
    #[test]
    fn p_values_agree_with_scipy() {
        let cases: Vec<(Vec<f64>, Vec<f64>, f64, f64)> = vec![
            // no ties, complete separation
            (
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
                vec![6.0, 7.0, 8.0, 9.0, 10.0],
                0.0,
                SCIPY_SEPARATED,
            ),
            // ties within and across samples
            (
                vec![1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0],
                vec![2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0],
                SCIPY_TIES_U,
                SCIPY_TIES,
            ),
            // unequal sizes
            (
                vec![0.011, 0.013, 0.02],
                vec![
                    0.010, 0.009, 0.012, 0.011, 0.010, 0.008, 0.013, 0.010, 0.011, 0.009, 0.012,
                    0.010,
                ],
                SCIPY_UNEQUAL_U,
                SCIPY_UNEQUAL,
            ),
            // identical samples
            (vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 2.0, 3.0, 4.0], 8.0, 1.0),
            // every value the same
            (vec![5.0, 5.0, 5.0], vec![5.0, 5.0], 3.0, 1.0),
        ];
        for (x, y, u, p) in cases {
            let r = mann_whitney_u(&x, &y).expect("valid samples");
            assert!(close(r.u, u, 1e-9), "U {} != {u} for {x:?} {y:?}", r.u);
            assert!(
                close(r.p_value, p, 1e-6),
                "p {} != {p} for {x:?} {y:?}",
                r.p_value
            );
        }
    }

    #[test]
    fn large_samples_agree_with_scipy() {
        let x = series(5000, 7919, 1000, 0.0);
        let y = series(4000, 104_729, 1003, 1.5);
        let r = mann_whitney_u(&x, &y).expect("valid samples");
        assert!(close(r.u, SCIPY_LARGE_U, 1e-6), "U {}", r.u);
        assert!(close(r.p_value, SCIPY_LARGE, 1e-6), "p {}", r.p_value);
        // Heavy ties: values on a coarse grid, one shifted and one not.
        let x = series(20_000, 31, 50, 0.0);
        for (y, u, p) in [
            (series(30_000, 17, 49, 0.0), SCIPY_GRID_U, SCIPY_GRID),
            (
                series(30_033, 17, 50, 0.0),
                SCIPY_GRID_NULL_U,
                SCIPY_GRID_NULL,
            ),
        ] {
            let r = mann_whitney_u(&x, &y).expect("valid samples");
            assert!(close(r.u, u, 1e-6), "U {}", r.u);
            assert!(close(r.p_value, p, 1e-6), "p {}", r.p_value);
            assert!(
                close(r.p_value / p, 1.0, 1e-9),
                "relative: {} vs {p}",
                r.p_value
            );
        }
    }

    #[test]
    fn normal_quantile_matches_scipy() {
        // scipy.stats.norm.ppf
        for (p, z) in [
            (0.99, 2.3263478740408408),
            (0.975, 1.959963984540054),
            (0.5, 0.0),
            (0.01, -2.3263478740408408),
            (1e-10, -6.361340902404056),
            (0.2, -0.8416212335729142),
        ] {
            assert!(close(norm_ppf(p), z, 1e-12), "ppf({p}) = {}", norm_ppf(p));
        }
        assert!(close(norm_sf(1.959963984540054), 0.025, 1e-15));
    }

    #[test]
    fn kth_difference_matches_brute_force() {
        let x = vec![0.3, -1.0, 2.5, 2.5, 7.0, 0.0, -0.0];
        let y = vec![1.0, 1.0, -3.0, 0.25, 9.5];
        let (xs, ys) = sorted_pair(&x, &y).expect("valid");
        let all = brute_differences(&xs, &ys);
        for (k, want) in all.iter().enumerate() {
            let got = kth_difference(&xs, &ys, k as u64 + 1);
            assert_eq!(got, *want, "k = {}", k + 1);
            if k + 1 < all.len() {
                assert_eq!(
                    next_difference_above(&xs, &ys, got, k as u64 + 1),
                    all[k + 1]
                );
            }
        }
    }

    #[test]
    fn selection_matches_brute_force_past_the_listing_budget() {
        let wide: Vec<f64> = series(90, 37, 101, 0.0)
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 2 == 0 { v * 1e150 } else { -v * 1e-150 })
            .collect();
        let cases = [
            // smooth
            (
                series(300, 7919, 1000, 2.0),
                series(250, 104_729, 1003, 0.0),
            ),
            // a coarse grid: long runs of equal differences
            (series(400, 31, 5, 0.0), series(300, 17, 7, 0.0)),
            // magnitudes from 1e-150 to 1e152: numeric midpoints split badly
            (wide.clone(), wide.iter().rev().map(|v| v * 0.5).collect()),
        ];
        for (x, y) in cases {
            let (xs, ys) = sorted_pair(&x, &y).expect("valid");
            let all = brute_differences(&xs, &ys);
            let n = all.len() as u64;
            for k in [1, 2, n / 7, n / 3, n / 2, n / 2 + 1, n - n / 5, n - 1, n] {
                let got = kth_difference(&xs, &ys, k);
                assert_eq!(got, all[k as usize - 1] + 0.0, "k = {k} of {n}");
            }
        }
    }

    #[test]
    fn hodges_lehmann_is_the_median_of_differences() {
        let x = series(37, 13, 41, 0.5);
        let y = series(24, 7, 29, 0.0);
        let all = brute_differences(&x, &y);
        let mid = all.len() / 2;
        let want = (all[mid - 1] + all[mid]) / 2.0;
        let hl = hodges_lehmann(&x, &y, 0.98).expect("valid");
        assert_eq!(hl.estimate, want);
        // odd number of pairs
        let hl = hodges_lehmann(&x[..3], &y[..5], 0.98).expect("valid");
        let all = brute_differences(&x[..3], &y[..5]);
        assert_eq!(hl.estimate, all[7]);
    }

    // References: R 4.2.2 `wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98,
    // exact = FALSE)`, whose `uniroot` stops within 1e-4 of the jump we select exactly.
    #[test]
    fn interval_agrees_with_r_wilcox_test() {
        for (x, y, want) in r_cases() {
            let hl = hodges_lehmann(&x, &y, 0.98).expect("valid");
            let (lo, est, hi) = want;
            assert!(close(hl.ci_low, lo, 1e-4), "low {} != {lo}", hl.ci_low);
            assert!(close(hl.ci_high, hi, 1e-4), "high {} != {hi}", hl.ci_high);
            assert!(
                close(hl.estimate, est, 1e-4),
                "estimate {} != {est}",
                hl.estimate
            );
            assert!(hl.ci_low <= hl.estimate && hl.estimate <= hl.ci_high);
        }
    }

    #[test]
    fn rejects_empty_and_non_finite_samples() {
        assert_eq!(mann_whitney_u(&[], &[1.0]), Err(StatsError::Empty("first")));
        assert_eq!(
            hodges_lehmann(&[1.0], &[f64::NAN], 0.98),
            Err(StatsError::NonFinite("second"))
        );
        assert_eq!(
            compare(&[1.0], &[2.0], 1.0),
            Err(StatsError::Confidence(1.0))
        );
        assert_eq!(
            compare_sorted(&[1.0, 2.0], &[3.0, 2.0], 0.98),
            Err(StatsError::NotSorted("second"))
        );
        assert_eq!(
            compare_sorted(&[1.0, 2.0], &[2.0, 3.0], 0.98),
            compare(&[2.0, 1.0], &[3.0, 2.0], 0.98)
        );
    }

    #[test]
    fn hundred_thousand_samples_stay_fast() {
        let x = series(100_000, 7919, 100_003, 0.0);
        let y = series(100_000, 104_729, 99_991, 300.0);
        let start = std::time::Instant::now();
        let c = compare(&x, &y, 0.98).expect("valid");
        // Generous bound: an O(n^2) approach would take minutes.
        assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
        let hl = c.hodges_lehmann;
        assert!(
            hl.ci_low <= hl.estimate && hl.estimate <= hl.ci_high,
            "{hl:?}"
        );
        assert!(hl.ci_low < -250.0 && hl.ci_high > -350.0, "{hl:?}");
        assert!(c.mann_whitney.p_value < 1e-6, "{c:?}");
    }
}
