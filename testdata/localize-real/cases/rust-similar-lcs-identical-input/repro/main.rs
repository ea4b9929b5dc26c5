// Diffs two versions of a sequence with the LCS algorithm, as a change viewer would.
use similar::{capture_diff_slices, Algorithm};

fn main() {
    let a: &[usize] = &[0, 1, 2, 3, 4, 4, 4, 5];
    let b: &[usize] = &[0, 1, 9, 3, 4, 4, 5];
    println!("{:?}", capture_diff_slices(Algorithm::Lcs, a, b));
    println!("{:?}", capture_diff_slices(Algorithm::Lcs, a, a));
}
