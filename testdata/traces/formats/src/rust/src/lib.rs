pub mod text {
    /// Cuts a label to `width` bytes for a column.
    pub fn cut(label: &str, width: usize) -> &str {
        &label[..width]
    }

    pub fn pad(width: usize, used: usize) -> usize {
        width - used
    }
}

pub mod stats {
    pub fn mean(xs: &[u64]) -> u64 {
        let n = xs.len() as u64;
        xs.iter().sum::<u64>() / n
    }

    pub fn first(xs: &[u64]) -> u64 {
        xs[0]
    }
}
