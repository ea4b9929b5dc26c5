// A length-prefixed frame reader (1-byte tag, 2-byte length, payload) over a received buffer,
// as a small protocol client would write it; a truncated frame must be reported, not panic.
use bytes::{Buf, Bytes};

fn frames(mut data: Bytes) -> Result<Vec<(u8, Bytes)>, String> {
    let mut out = Vec::new();
    while data.has_remaining() {
        let tag = data.get_u8();
        let len = data.try_get_u16().map_err(|e| format!("frame {tag}: {e}"))? as usize;
        if data.len() < len {
            return Err(format!("frame {tag}: need {len} bytes, have {}", data.len()));
        }
        let payload = data.slice(..len);
        data.advance(len);
        out.push((tag, payload));
    }
    Ok(out)
}

fn main() {
    let inputs: [&[u8]; 3] = [b"\x01\x00\x03abc\x02\x00\x00", b"\x01\x00\x05ab", b""];
    for input in inputs {
        println!("{:?}", frames(Bytes::copy_from_slice(input)));
    }
    let mut empty: &[u8] = &[];
    println!("try_get_u8 on empty: {:?}", empty.try_get_u8());
    let mut one: &[u8] = b"\x07";
    println!("get_u8: {}", one.get_u8());
}
