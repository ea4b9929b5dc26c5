//! `healbot app create`: GitHub's App manifest flow as a person runs it. The real binary serves
//! its page on a loopback port; the test is the browser (it reads the page and its form), the
//! owner confirming on GitHub (the fake GitHub checks the manifest and issues a code) and
//! GitHub's redirect back (a real HTTP request to the callback). The code's conversion goes to the
//! fake GitHub, whose answer is checked against GitHub's OpenAPI schema.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::support::github::{test_key_path, FakeGithub};

const WEBHOOK_URL: &str = "https://healbot.acme.io/webhooks/github";

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn start(fake: &FakeGithub, output_dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args([
            "app",
            "create",
            "--org",
            "acme",
            "--webhook-url",
            WEBHOOK_URL,
        ])
        .arg("--output-dir")
        .arg(output_dir)
        .args([
            "--github-url",
            "https://github.test",
            "--api-url",
            &fake.url(),
        ])
        .args(["--listen", "127.0.0.1:0", "--timeout-secs", "60"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("healbot app create")
}

/// The page's address, from the first line the command prints.
async fn page_url(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
        .await
        .expect("the command prints the page's address")
        .unwrap();
    let re = Regex::new(r"Open (http://127\.0\.0\.1:\d+/) in a browser").unwrap();
    re.captures(&line)
        .unwrap_or_else(|| panic!("first line: {line:?}"))[1]
        .to_string()
}

/// The form of the page: where it posts, and the manifest it carries.
struct Form {
    action: String,
    manifest: String,
}

async fn read_form(url: &str) -> Form {
    let page = healbot::http_client::client()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let action = Regex::new(r#"<form action="([^"]+)" method="post">"#)
        .unwrap()
        .captures(&html)
        .unwrap_or_else(|| panic!("no form in {html}"))[1]
        .to_string();
    let manifest = Regex::new(r#"<input type="hidden" name="manifest" value="([^"]+)">"#)
        .unwrap()
        .captures(&html)
        .unwrap_or_else(|| panic!("no manifest field in {html}"))[1]
        .to_string();
    Form {
        action: unescape(&action),
        manifest: unescape(&manifest),
    }
}

async fn finish(mut child: Child, mut stdout: BufReader<ChildStdout>) -> (bool, String) {
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the command ends after the redirect")
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    (status.success(), format!("{rest}{err}"))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn app_create_registers_the_app_and_writes_its_credentials_0600() {
    let fake = FakeGithub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    let mut child = start(&fake, &dir, &[]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let url = page_url(&mut stdout).await;
    let form = read_form(&url).await;

    // The form posts to the organization's "new GitHub App" page with a fresh state.
    let action = Regex::new(
        r"^https://github\.test/organizations/acme/settings/apps/new\?state=([0-9a-f]{32})$",
    )
    .unwrap();
    let state = action
        .captures(&form.action)
        .unwrap_or_else(|| panic!("form action {}", form.action))[1]
        .to_string();
    let manifest: Value = serde_json::from_str(&form.manifest).unwrap();
    assert_eq!(manifest["name"], "healbot-acme");
    assert_eq!(manifest["hook_attributes"]["url"], WEBHOOK_URL);
    let redirect = manifest["redirect_url"].as_str().unwrap().to_string();
    assert_eq!(redirect, format!("{url}callback"));
    let permissions = manifest["default_permissions"].as_object().unwrap();
    assert!(!permissions.contains_key("members"));
    assert_eq!(permissions["issues"], "read");

    // The owner confirms on GitHub, which redirects the browser with a code.
    let code = fake.confirm_app_manifest("acme", &form.manifest).unwrap();

    // A redirect that does not carry the flow's state does nothing (and keeps the code).
    let forged = healbot::http_client::client()
        .get(format!("{redirect}?code={code}&state=0123"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(fake.created_apps().is_empty());
    assert!(!dir.join("private-key.pem").exists());

    let back = healbot::http_client::client()
        .get(format!("{redirect}?code={code}&state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    let page = back.text().await.unwrap();
    assert!(page.contains("The GitHub App is created"), "{page}");
    let (ok, output) = finish(child, stdout).await;
    assert!(ok, "{output}");

    let apps = fake.created_apps();
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    let id = app["id"].as_u64().unwrap();
    assert_eq!(app["permissions"], manifest["default_permissions"]);

    // The files, 0600 in a 0700 folder.
    assert_eq!(mode(&dir), 0o700);
    for file in ["app-id", "private-key.pem", "webhook-secret", "app.json"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    assert_eq!(
        fs::read_to_string(dir.join("app-id")).unwrap(),
        format!("{id}\n")
    );
    assert_eq!(
        fs::read_to_string(dir.join("private-key.pem")).unwrap(),
        fs::read_to_string(test_key_path()).unwrap()
    );
    let secret = app["webhook_secret"].as_str().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("webhook-secret")).unwrap(),
        secret
    );
    let about: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("app.json")).unwrap()).unwrap();
    assert_eq!(about["id"], id);
    assert_eq!(about["owner"], "acme");
    assert_eq!(about["api_url"], fake.url());
    assert!(about.get("pem").is_none() && about.get("client_secret").is_none());

    // The next steps, and no secret on the terminal.
    assert!(output.contains(&format!(
        "{}/installations/new",
        app["html_url"].as_str().unwrap()
    )));
    assert!(
        output.contains(&format!("config.github.appId={id}")),
        "{output}"
    );
    assert!(
        output.contains("config.github.apiUrl="),
        "GHES: the API URL, {output}"
    );
    assert!(output.contains("kubectl create secret generic healbot-github-app"));
    assert!(
        !output.contains(secret) && !output.contains("PRIVATE KEY"),
        "{output}"
    );

    // The code worked once.
    let again = healbot::http_client::client()
        .get(format!("{redirect}?code={code}&state={state}"))
        .send()
        .await;
    assert!(again.is_err(), "the page is gone once the App is set up");
    fake.assert_clean();
}

#[tokio::test]
async fn an_unknown_code_writes_nothing_and_says_why() {
    let fake = FakeGithub::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    let mut child = start(&fake, &dir, &["--name", "healbot-test"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let url = page_url(&mut stdout).await;
    let form = read_form(&url).await;
    let state = form.action.rsplit("state=").next().unwrap().to_string();
    let manifest: Value = serde_json::from_str(&form.manifest).unwrap();
    assert_eq!(manifest["name"], "healbot-test");

    // A code GitHub never issued (or one older than an hour).
    let back = healbot::http_client::client()
        .get(format!("{url}callback?code=0badc0de&state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 502);
    let (ok, output) = finish(child, stdout).await;
    assert!(!ok);
    assert!(
        output.contains("GitHub does not know this code"),
        "{output}"
    );
    assert!(!dir.join("private-key.pem").exists());
    assert!(fake.created_apps().is_empty());
    fake.assert_clean();

    // The page never listens beyond loopback.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args([
            "app",
            "create",
            "--org",
            "acme",
            "--webhook-url",
            WEBHOOK_URL,
        ])
        .args(["--listen", "0.0.0.0:0", "--output-dir"])
        .arg(tmp.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
