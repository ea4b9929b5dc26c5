use chrono::NaiveDate;
#[allow(deprecated)]
fn expiry(month: u32) -> NaiveDate {
    NaiveDate::from_ymd(2024, month, 1)
}
fn main() {
    let month: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(13);
    println!("{}", expiry(month));
}
