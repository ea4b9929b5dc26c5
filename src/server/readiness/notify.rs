//! A dry run of each configured notifier: the credential is present, the endpoint is a usable
//! URL and its host accepts a TCP connection (SMTP: the server's greeting is read and the
//! session closed with QUIT). Nothing is ever sent to a channel, so nobody is paged.

use super::{host_port, reachable, within, Check};
use crate::config::notify::{NotifyConfig, SmtpTls};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub(super) async fn check(notify: &NotifyConfig, limit: Duration) -> Vec<Check> {
    let mut rows = Vec::new();
    for (name, channel) in [("slack", &notify.slack), ("teams", &notify.teams)] {
        if let Some(c) = channel {
            let row = format!("notify {name}");
            let check = endpoint(&row, c.webhook_url.expose_str(), "webhook URL");
            rows.push(within(&row, limit, check).await);
        }
    }
    if let Some(pd) = &notify.pagerduty {
        let row = "notify pagerduty";
        let present = !pd.routing_key.expose_str().is_empty();
        let check = async {
            let mut c = endpoint(row, &pd.api_url, "events URL").await;
            if c.status == super::Status::Ok {
                c.detail = format!(
                    "routing key {} (not shown); {} ({})",
                    if present { "set" } else { "empty" },
                    c.detail,
                    pd.api_url
                );
            }
            c
        };
        rows.push(within(row, limit, check).await);
    }
    if let Some(email) = &notify.email {
        let row = "notify email";
        let check = smtp(
            row,
            &email.smtp_host,
            email.smtp_port,
            email.tls,
            email.password.is_some(),
        );
        rows.push(within(row, limit, check).await);
    }
    if rows.is_empty() {
        rows.push(Check::warn(
            "notify",
            "no notify: channel configured: notifications are only log lines, nobody is paged",
        ));
    }
    rows
}

/// The URL is http(s) with a host that accepts a connection; the detail shows only the host
/// and port (a webhook URL's path is its token).
async fn endpoint(row: &str, url: &str, what: &str) -> Check {
    let Some((host, port)) = host_port(url) else {
        return Check::fail(row, format!("the {what} is not an http(s) URL (not shown)"));
    };
    match reachable(&host, port).await {
        Ok(()) => Check::ok(
            row,
            format!("{what} set (not shown); TCP connection to {host}:{port} opened and closed; nothing sent"),
        ),
        Err(e) => Check::fail(row, format!("{what} set (not shown); {e}")),
    }
}

/// Connects to the SMTP server and reads its `220` greeting (not with implicit TLS, whose
/// greeting is inside TLS), then says QUIT: no mail transaction is started.
async fn smtp(row: &str, host: &str, port: u16, tls: SmtpTls, password: bool) -> Check {
    let credential = if password {
        "password set (not shown)"
    } else {
        "no password"
    };
    let stream = match tokio::net::TcpStream::connect((host, port)).await {
        Ok(s) => s,
        Err(e) => return Check::fail(row, format!("cannot connect to {host}:{port}: {e}")),
    };
    if tls == SmtpTls::Implicit {
        return Check::ok(
            row,
            format!("{credential}; TCP connection to {host}:{port} opened (implicit TLS: greeting not read); no mail sent"),
        );
    }
    let mut reader = BufReader::new(stream);
    let mut greeting = String::new();
    if let Err(e) = reader.read_line(&mut greeting).await {
        return Check::fail(row, format!("{host}:{port} sent no greeting: {e}"));
    }
    let _ = reader.get_mut().write_all(b"QUIT\r\n").await;
    if greeting.starts_with("220") {
        Check::ok(
            row,
            format!("{credential}; {host}:{port} greeted with 220; QUIT sent, no mail sent"),
        )
    } else {
        Check::fail(
            row,
            format!(
                "{host}:{port} greeted with {:?}, not 220",
                greeting.trim().chars().take(80).collect::<String>()
            ),
        )
    }
}
