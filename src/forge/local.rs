//! (being written)
pub struct LocalForge;
