#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(dt) = data.parse::<toml_datetime::Datetime>() {
        let _ = dt.to_string();
    }
});
