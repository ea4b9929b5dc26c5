//! (being written)
pub struct FileAuditStore;
