mod handlers;

use std::collections::HashMap;

fn main() {
    let mut users = HashMap::new();
    users.insert(1u32, handlers::User { id: 1, email: Some("a@example.com".into()) });
    users.insert(2u32, handlers::User { id: 2, email: None });
    for id in [1u32, 2] {
        println!("{}", handlers::receipt_domain(&users, id));
    }
}
