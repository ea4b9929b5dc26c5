// Squares all-ones numbers of growing width (2^k - 1), as a Mersenne-number test helper would;
// the sizes come from the regression test added with the fix (test_mul_overflow_2).
use num_bigint::BigUint;

fn main() {
    for i in 1u32..20 {
        let bits = 1usize << i;
        let x = (BigUint::from(1u8) << bits) - 1u32;
        println!("2^{bits}-1 squared: {} bits", (&x * &x).bits());
    }
}
