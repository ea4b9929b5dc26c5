// Sizes a decode buffer from a length announced in a message header before reading the body,
// as a streaming decoder would; absurd lengths must not crash the sizing.
fn main() {
    for announced in [8usize, 1 << 20, usize::MAX - 1] {
        println!("{announced} -> {}", base64::decoded_len_estimate(announced));
    }
}
