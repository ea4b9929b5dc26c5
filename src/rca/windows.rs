//! Which rows are scored as the anomaly. With the start given, the rows from it on. With the
//! start found, the vote often lands early: traffic that follows the time of day moves every
//! rate, CPU and network series together, and Pettitt's test puts their change in the middle
//! of that drift, minutes before the fault. The window from there holds more normal samples
//! than anomalous ones, and its median is normal. So a found start gives two windows: the
//! rows from it, and the rows from halfway between it and the last start the vote allows; a
//! column scores the stronger of the two. A fault that began after that halfway row still fills
//! most of the second window; one that began at the found start fills both.

use super::metrics::{restarts, score_series, ColumnScore, ScoreOptions, Series};

/// The rows a scored window may begin at: `start`, and for a found start also the row halfway
/// from it to the last start that leaves `margin` rows to score.
pub(crate) fn window_starts(start: usize, found: bool, rows: usize, margin: usize) -> Vec<usize> {
    let last = rows.saturating_sub(margin);
    let mut starts = vec![start];
    if found && last > start + 1 {
        starts.push(start + (last - start) / 2);
    }
    starts
}

/// Every column scored from each of `starts`, keeping its stronger score and the time its
/// window began (`times` are the rows' times; the window before each start is its normal
/// one); columns without samples on both sides are left out.
pub(crate) fn score_columns(
    all: &[Series],
    times: &[f64],
    starts: &[usize],
    options: &ScoreOptions,
) -> Vec<ColumnScore> {
    let mut best: Vec<Option<ColumnScore>> = vec![None; all.len()];
    for &start in starts {
        let restarted = restarts(all, start);
        for (b, s) in best.iter_mut().zip(all) {
            let scored = score_series(s, start, restarted.get(&s.service).copied(), options)
                .filter(|c| c.score.is_finite())
                .map(|c| ColumnScore {
                    window_start: times.get(start).copied(),
                    ..c
                });
            if let Some(c) = scored {
                if b.as_ref().is_none_or(|b| c.score > b.score) {
                    *b = Some(c);
                }
            }
        }
    }
    best.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rca::metrics::series;
    use crate::rca::table::MetricTable;

    #[test]
    fn a_found_start_adds_the_halfway_start() {
        assert_eq!(window_starts(300, false, 900, 90), [300]);
        assert_eq!(window_starts(300, true, 900, 90), [300, 555]);
        // Nothing left between the start and the last allowed one.
        assert_eq!(window_starts(810, true, 900, 90), [810]);
        assert_eq!(window_starts(5, true, 8, 10), [5]);
    }

    #[test]
    fn a_start_found_too_early_still_scores_the_fault() {
        // The fault steps at 700; a vote that landed at 300 leaves the window from 300 mostly
        // normal, and its median with it. The halfway window (from 555) holds the fault.
        let rows = 900;
        let cpu: Vec<f64> = (0..rows)
            .map(|i| {
                let wiggle = ((i * 7919) % 13) as f64 / 600.0;
                0.2 + wiggle + if i >= 700 { 0.5 } else { 0.0 }
            })
            .collect();
        let flat: Vec<f64> = (0..rows).map(|i| 1.0 + ((i * 31) % 7) as f64).collect();
        let t = MetricTable {
            times: (0..rows).map(|t| t as f64).collect(),
            columns: vec!["pay_cpu".into(), "ship_cpu".into()],
            values: vec![cpu, flat],
        };
        let all = series(&t, None);
        let options = ScoreOptions {
            parts: 1,
            ..ScoreOptions::default()
        };
        let times = &t.times;
        let early = score_columns(&all, times, &[300], &options);
        assert!(early[0].score < 1.0, "{early:?}");
        let both = score_columns(&all, times, &window_starts(300, true, rows, 90), &options);
        assert_eq!(both.len(), 2);
        assert!(both[0].score > 10.0, "{both:?}");
        assert!(both[1].score < 1.0, "{both:?}");
        // The fault's column names the halfway window as the one that scored it.
        assert_eq!(both[0].window_start, Some(555.0));
        // A column with no samples after the start is left out, not scored zero.
        let short = MetricTable {
            times: vec![0.0, 1.0, 2.0],
            columns: vec!["a_cpu".into()],
            values: vec![vec![1.0, 1.0, f64::NAN]],
        };
        assert!(score_columns(&series(&short, None), &short.times, &[2], &options).is_empty());
    }
}
