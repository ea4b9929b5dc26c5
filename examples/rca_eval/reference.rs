//! The "twenty-line" robust z-score baseline, for scale: counters as rates, median and MAD of
//! the normal window, the largest |z| after the known start, a service's best column. Columns
//! whose MAD is zero are skipped (the baseline's way of not dividing by zero).

pub fn rank(csv: &str, start: f64) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|c| c.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let mut best: Vec<(String, f64)> = Vec::new();
    for (c, name) in header.iter().enumerate().skip(1) {
        let mut xs: Vec<(f64, f64)> = rows.iter().map(|r| (r[0], r[c])).collect();
        if name.ends_with("_total") {
            xs = xs.windows(2).map(|w| (w[1].0, w[1].1 - w[0].1)).collect();
        }
        let mut normal: Vec<f64> = xs
            .iter()
            .filter(|(t, x)| *t < start && x.is_finite())
            .map(|p| p.1)
            .collect();
        let median = quantile(&mut normal, 0.5);
        let mut dev: Vec<f64> = normal.iter().map(|x| (x - median).abs()).collect();
        let mad = 1.4826 * quantile(&mut dev, 0.5);
        if mad.is_nan() || mad <= 0.0 {
            continue;
        }
        let z = xs
            .iter()
            .filter(|(t, x)| *t >= start && x.is_finite())
            .map(|(_, x)| ((x - median) / mad).abs())
            .fold(0.0, f64::max);
        let service = name.split('_').next().unwrap_or(name).to_string();
        match best.iter_mut().find(|(s, _)| *s == service) {
            Some(b) => b.1 = b.1.max(z),
            None => best.push((service, z)),
        }
    }
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.into_iter().map(|(s, _)| s).collect()
}

fn quantile(xs: &mut [f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}
