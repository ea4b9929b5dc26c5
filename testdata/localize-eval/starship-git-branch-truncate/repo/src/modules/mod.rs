mod git_branch;

pub use crate::context::{Context, Module};
pub use crate::config::ModuleConfig;

pub fn handle<'a>(module: &str, context: &'a Context) -> Option<Module<'a>> {
    match module {
        "git_branch" => git_branch::module(context),
        _ => {
            eprintln!("Error: Unknown module {}. Use starship module --list to list out all supported modules.", module);
            None
        }
    }
}
