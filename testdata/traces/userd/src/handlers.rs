use std::collections::HashMap;

pub struct User {
    pub id: u32,
    pub email: Option<String>,
}

pub fn receipt_domain(users: &HashMap<u32, User>, id: u32) -> String {
    let user = &users[&id];
    let email = user.email.as_ref().unwrap();
    email.split('@').nth(1).unwrap_or_default().to_string()
}
