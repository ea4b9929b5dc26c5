// Diffs short token sequences with the LCS algorithm, as a change viewer would.
use similar::{capture_diff_slices, Algorithm};

fn main() {
    let pairs: [(&[&str], &[&str]); 3] = [
        (&["a", "b", "c"], &["a", "x", "c"]),
        (&["a", "b", "a"], &["a"]),
        (&["a"], &["a", "b", "a"]),
    ];
    for (old, new) in pairs {
        println!("{:?}", capture_diff_slices(Algorithm::Lcs, old, new));
    }
}
