//! Robust anomaly scores for one series: the normal window's median and spread, and how far
//! the anomaly window sits from them. The spread has a floor, because a series that was flat
//! through the normal window (a database's buffer pool, a counter of rare errors) has a
//! spread of zero, and dividing by it turns any later step, however ordinary, into a score in
//! the thousands.

/// Median and scale of the normal window, and which rule set the scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub median: f64,
    pub scale: f64,
    pub floor: ScaleFloor,
}

/// Why the scale is what it is, for the evidence a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleFloor {
    /// The spread itself (IQR or MAD, as a standard deviation).
    Spread,
    /// A fraction of the level: the series hardly moved.
    Level,
    /// The series' resolution: it moves in steps of this size.
    Resolution,
    /// Nothing better: the series is zero and flat.
    Absolute,
    /// Not a spread: the score is a reading over its objective (an error rate over the SLO,
    /// a p99 over the latency objective), as `healbot serve` reads its live sources.
    Objective,
}

/// How the spread is floored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorOptions {
    /// Changes smaller than this share of the level are not told apart from noise.
    pub level_share: f64,
}

impl Default for FloorOptions {
    fn default() -> FloorOptions {
        FloorOptions { level_share: 0.05 }
    }
}

/// Fits the baseline on the normal window's present samples; `resolution` is the series'
/// step (see [`super::series::resolution`]). `None` without samples.
pub fn fit(normal: &[f64], resolution: Option<f64>, options: FloorOptions) -> Option<Baseline> {
    let mut xs: Vec<f64> = normal.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let median = quantile(&xs, 0.5);
    // IQR/1.349 and 1.4826·MAD both estimate a normal distribution's standard deviation.
    let iqr = (quantile(&xs, 0.75) - quantile(&xs, 0.25)) / 1.349;
    let mut dev: Vec<f64> = xs.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = 1.4826 * quantile(&dev, 0.5);
    let spread = iqr.max(mad);
    let level = options.level_share * median.abs();
    let resolution = resolution.unwrap_or(0.0);
    let (scale, floor) = [
        (spread, ScaleFloor::Spread),
        (level, ScaleFloor::Level),
        (resolution, ScaleFloor::Resolution),
    ]
    .into_iter()
    .fold((0.0, ScaleFloor::Absolute), |best, c| {
        if c.0 > best.0 {
            c
        } else {
            best
        }
    });
    let (scale, floor) = if scale > 0.0 {
        (scale, floor)
    } else {
        (1e-9_f64.max(f64::EPSILON), ScaleFloor::Absolute)
    };
    Some(Baseline {
        median,
        scale,
        floor,
    })
}

impl Baseline {
    pub fn z(&self, x: f64) -> f64 {
        (x - self.median) / self.scale
    }
}

/// Linear interpolation between closest ranks; `sorted` is not empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_when_there_is_one() {
        let b = fit(&[1.0, 2.0, 3.0, 4.0, 5.0], None, FloorOptions::default()).unwrap();
        assert_eq!(b.median, 3.0);
        assert_eq!(b.floor, ScaleFloor::Spread);
        // MAD 1 (as a standard deviation 1.4826) just beats IQR 2 (1.4826 too, less a hair).
        assert!((b.scale - 1.4826).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn a_flat_series_gets_a_floor_not_zero() {
        let flat = [1000.0; 50];
        let b = fit(&flat, None, FloorOptions::default()).unwrap();
        assert_eq!((b.scale, b.floor), (50.0, ScaleFloor::Level));
        // A 20% step is four floors, not infinity.
        assert!((b.z(1200.0) - 4.0).abs() < 1e-9);
        let b = fit(&flat, Some(100.0), FloorOptions::default()).unwrap();
        assert_eq!((b.scale, b.floor), (100.0, ScaleFloor::Resolution));
        let zeros = fit(&[0.0; 10], Some(1.0), FloorOptions::default()).unwrap();
        assert_eq!((zeros.scale, zeros.floor), (1.0, ScaleFloor::Resolution));
        let nothing = fit(&[0.0; 10], None, FloorOptions::default()).unwrap();
        assert_eq!(nothing.floor, ScaleFloor::Absolute);
        assert!(fit(&[f64::NAN], None, FloorOptions::default()).is_none());
    }
}
