//! (being written)
pub enum HealCommand {} pub fn parse_commands() {}
