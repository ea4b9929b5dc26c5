// Reads variable-width signed fields from a record whose schema gives each field's width (which
// may be zero for an absent field), as a binary decoder would.
use bytes::Buf;

fn main() {
    let widths = [2usize, 0, 3];
    let mut data: &[u8] = &[0xff, 0xfe, 0x00, 0x01, 0x02];
    for w in widths {
        println!("width {w}: {}", data.get_int(w));
    }
}
