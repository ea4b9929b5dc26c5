//! (being written)
pub struct ChainBreak; pub struct VerifyReport;
pub fn verify_entries() {} pub fn verify_file() {}
