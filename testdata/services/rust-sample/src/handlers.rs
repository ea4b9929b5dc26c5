//! Routes and handlers.

use std::collections::HashMap;

pub struct Request {
    pub path: String,
    pub query: HashMap<String, String>,
}

impl Request {
    pub fn parse(line: &str) -> Request {
        let (path, query) = line.split_once('?').unwrap_or((line, ""));
        let query = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Request {
            path: path.to_string(),
            query,
        }
    }
}

pub fn handle(req: &Request) -> Result<String, String> {
    match req.path.as_str() {
        "/greet" => greet(req),
        "/health" => Ok("ok".to_string()),
        other => Err(format!("no route for {other}")),
    }
}

fn greet(req: &Request) -> Result<String, String> {
    let name = req.query.get("name").unwrap();
    let lang = req.query.get("lang").map(String::as_str).unwrap_or("en");
    Ok(match lang {
        "fr" => format!("bonjour, {name}"),
        _ => format!("hello, {name}"),
    })
}
