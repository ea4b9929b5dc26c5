//! `healbot app create --org ORG --webhook-url URL`: registers healbot's GitHub App through
//! GitHub's manifest flow, so that nobody copies permissions and events by hand. It serves a page
//! on a loopback port whose form posts app.yml (as the manifest JSON) to the organization's "new
//! GitHub App" page; GitHub sends the browser back with a one-time code, which is exchanged for
//! the App's id, private key and webhook secret. Those are written to files with mode 0600, and
//! the next steps are printed.

use crate::forge::github::manifest::{
    self, CreatedApp, GithubInstance, ManifestCode, ManifestSettings, OrgLogin,
};
use anyhow::{bail, Context};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use clap::{Args, Subcommand};
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register the GitHub App from app.yml through GitHub's manifest flow (opens a local page
    /// to click through) and write its id, private key and webhook secret to files.
    Create(CreateArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// The organization that will own the App (its login, as in https://github.com/ORG).
    #[arg(long)]
    pub org: String,
    /// Where GitHub will send deliveries: https://<host>/webhooks/github of your healbot.
    #[arg(long)]
    pub webhook_url: String,
    /// Where the App's files are written (created with mode 0700; the files get 0600).
    #[arg(long, default_value = "healbot-app")]
    pub output_dir: PathBuf,
    /// The App's name, unique on the GitHub instance (at most 34 characters).
    /// Default: healbot-<org>.
    #[arg(long)]
    pub name: Option<String>,
    /// GitHub's web address: a GitHub Enterprise Server's, e.g. https://github.example.com.
    #[arg(long, default_value = "https://github.com")]
    pub github_url: String,
    /// The REST API. Default: https://api.github.com, or <github-url>/api/v3 for an Enterprise
    /// Server.
    #[arg(long)]
    pub api_url: Option<String>,
    /// A manifest other than the app.yml built into healbot.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The loopback address of the local page (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Give up after this many seconds without GitHub's redirect.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
}

/// The files written, in this order.
pub(crate) const APP_ID_FILE: &str = "app-id";
pub(crate) const PRIVATE_KEY_FILE: &str = "private-key.pem";
pub(crate) const WEBHOOK_SECRET_FILE: &str = "webhook-secret";
pub(crate) const APP_JSON_FILE: &str = "app.json";

pub async fn run(cmd: AppCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AppCommand::Create(args) => create(args).await,
    }
}

/// What the local server shares with its handlers.
struct Flow {
    instance: GithubInstance,
    org: OrgLogin,
    state: String,
    manifest: String,
    output_dir: PathBuf,
    done: Mutex<Option<oneshot::Sender<anyhow::Result<CreatedApp>>>>,
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let org = OrgLogin::parse(&args.org)?;
    let instance = GithubInstance::new(&args.github_url, args.api_url.as_deref())?;
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the setup page must listen on a loopback address (127.0.0.1 or ::1)",
            args.listen
        );
    }
    let yaml = match &args.manifest {
        Some(path) => fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?,
        None => manifest::APP_YML.to_string(),
    };
    let output_dir = prepare_output_dir(&args.output_dir)?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let name = args.name.clone().unwrap_or_else(|| {
        format!("healbot-{}", org.as_str())
            .chars()
            .take(manifest::MAX_NAME_CHARS)
            .collect()
    });
    let settings = ManifestSettings {
        name: Some(name),
        webhook_url: args.webhook_url.clone(),
        redirect_url: format!("http://{local}/callback"),
    };
    let manifest = manifest::manifest_json(&yaml, &settings)?;

    let (done, outcome) = oneshot::channel();
    let flow = Arc::new(Flow {
        instance,
        org,
        state: random_state()?,
        manifest: manifest.to_string(),
        output_dir,
        done: Mutex::new(Some(done)),
    });
    let app = Router::new()
        .route("/", get(page))
        .route("/callback", get(callback))
        .with_state(flow.clone());

    println!(
        "Open http://{local}/ in a browser signed in to GitHub as an owner of {}, and",
        flow.org.as_str()
    );
    println!(
        "click \"Create the GitHub App\" (waiting up to {} s).",
        args.timeout_secs
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let result = tokio::time::timeout(Duration::from_secs(args.timeout_secs), outcome).await;
    // Let the last page reach the browser before the server goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    let _ = server.await;
    let app = match result {
        Err(_) => bail!(
            "no redirect from GitHub within {} s: nothing was created here (an App created \
             meanwhile on GitHub can be deleted in its settings)",
            args.timeout_secs
        ),
        Ok(Err(_)) => bail!("the setup page stopped before GitHub's redirect"),
        Ok(Ok(outcome)) => outcome?,
    };
    print_next_steps(&app, &flow.output_dir, &flow.instance);
    Ok(ExitCode::SUCCESS)
}

/// A fresh, unguessable value for GitHub's `state` parameter: a redirect that does not carry it
/// was not started by this command.
fn random_state() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Creates the folder (0700) or checks that an existing one holds none of the files, so that no
/// earlier App's key is overwritten.
fn prepare_output_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        for file in [
            APP_ID_FILE,
            PRIVATE_KEY_FILE,
            WEBHOOK_SECRET_FILE,
            APP_JSON_FILE,
        ] {
            if dir.join(file).exists() {
                bail!(
                    "{} already exists: choose another --output-dir (an App's key is never overwritten)",
                    dir.join(file).display()
                );
            }
        }
    } else {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir.to_path_buf())
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 44em; margin: 3em auto\">\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape_html(title)
    ))
}

async fn page(State(flow): State<Arc<Flow>>) -> Html<String> {
    let action = flow.instance.new_app_url(&flow.org, &flow.state);
    let pretty: serde_json::Value =
        serde_json::from_str(&flow.manifest).unwrap_or(serde_json::Value::Null);
    let pretty = serde_json::to_string_pretty(&pretty).unwrap_or_default();
    html(
        "Create healbot's GitHub App",
        &format!(
            "<p>This form sends the manifest below to GitHub, which shows the App it will create \
             for <b>{org}</b> and asks you to confirm. GitHub then sends you back here, and \
             <code>healbot app create</code> writes the App's id, private key and webhook secret \
             to <code>{dir}</code>.</p>\n\
             <form action=\"{action}\" method=\"post\">\n\
             <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\n\
             <button type=\"submit\">Create the GitHub App</button>\n</form>\n\
             <pre>{pretty}</pre>",
            org = escape_html(flow.org.as_str()),
            dir = escape_html(&flow.output_dir.display().to_string()),
            action = escape_html(&action),
            manifest = escape_html(&flow.manifest),
            pretty = escape_html(&pretty),
        ),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn callback(
    State(flow): State<Arc<Flow>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    let state = query.get("state").map(String::as_str).unwrap_or("");
    if !constant_time_eq(state.as_bytes(), flow.state.as_bytes()) {
        return (
            StatusCode::BAD_REQUEST,
            html(
                "Not this flow",
                "<p>This redirect does not carry the state this setup page gave GitHub, so it \
                 was not started here. Nothing was done; start from this page.</p>",
            ),
        );
    }
    let Some(sender) = flow.done.lock().ok().and_then(|mut d| d.take()) else {
        return (
            StatusCode::GONE,
            html(
                "Already done",
                "<p>This App was already set up; see the terminal.</p>",
            ),
        );
    };
    let outcome = match query.get("code").map(|c| ManifestCode::parse(c)) {
        Some(Ok(code)) => exchange(&flow, &code).await,
        Some(Err(e)) => Err(e.into()),
        None => Err(anyhow::anyhow!("GitHub's redirect has no code")),
    };
    let answer = match &outcome {
        Ok(app) => (
            StatusCode::OK,
            html(
                "The GitHub App is created",
                &format!(
                    "<p><b>{name}</b> (id {id}) exists; its id, private key and webhook secret \
                     are in <code>{dir}</code>. Install it on your repositories: \
                     <a href=\"{install}\">{install}</a>. The terminal shows the next steps; \
                     this page can be closed.</p>",
                    name = escape_html(&app.name),
                    id = app.id,
                    dir = escape_html(&flow.output_dir.display().to_string()),
                    install = escape_html(&install_url(app)),
                ),
            ),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            html(
                "The App could not be set up",
                &format!(
                    "<p>{}</p><p>See the terminal.</p>",
                    escape_html(&format!("{e:#}"))
                ),
            ),
        ),
    };
    let _ = sender.send(outcome);
    answer
}

async fn exchange(flow: &Flow, code: &ManifestCode) -> anyhow::Result<CreatedApp> {
    let app = manifest::convert(&flow.instance, code).await?;
    write_files(&flow.output_dir, &app, &flow.instance)?;
    Ok(app)
}

fn write_private(dir: &Path, name: &str, content: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    // The mode is 0600 whatever the umask said.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn write_files(dir: &Path, app: &CreatedApp, instance: &GithubInstance) -> anyhow::Result<()> {
    // The key first: if anything after fails, the App is still usable from its key and id.
    write_private(dir, PRIVATE_KEY_FILE, app.pem.expose())?;
    write_private(dir, APP_ID_FILE, &format!("{}\n", app.id))?;
    if let Some(secret) = &app.webhook_secret {
        write_private(dir, WEBHOOK_SECRET_FILE, secret.expose())?;
    }
    let about = serde_json::json!({
        "id": app.id.0,
        "slug": app.slug,
        "name": app.name,
        "owner": app.owner,
        "html_url": app.html_url,
        "client_id": app.client_id,
        "api_url": instance.api_url,
        "permissions": app.permissions,
        "events": app.events,
    });
    write_private(dir, APP_JSON_FILE, &format!("{about:#}\n"))?;
    Ok(())
}

fn install_url(app: &CreatedApp) -> String {
    format!("{}/installations/new", app.html_url.trim_end_matches('/'))
}

fn print_next_steps(app: &CreatedApp, dir: &Path, instance: &GithubInstance) {
    let d = dir.display();
    println!();
    println!(
        "Created the GitHub App {} (id {}): {}",
        app.name, app.id, app.html_url
    );
    let secret = if app.webhook_secret.is_some() {
        format!(", {WEBHOOK_SECRET_FILE}")
    } else {
        String::new()
    };
    println!(
        "Wrote {d}/{{{APP_ID_FILE}, {PRIVATE_KEY_FILE}{secret}, {APP_JSON_FILE}}} (mode 0600)."
    );
    if app.webhook_secret.is_none() {
        println!(
            "GitHub returned no webhook secret: set one in the App's settings and write it to \
             {d}/{WEBHOOK_SECRET_FILE} (healbot refuses unsigned deliveries)."
        );
    }
    println!();
    println!("Next steps (docs/install.md):");
    println!("  1. Install the App on the repositories healbot acts on:");
    println!("       {}", install_url(app));
    println!("  2. Store the secrets where the chart mounts them:");
    println!(
        "       kubectl create secret generic healbot-webhook --from-file=webhook-secret={d}/{WEBHOOK_SECRET_FILE}"
    );
    println!(
        "       kubectl create secret generic healbot-github-app --from-file=private-key.pem={d}/{PRIVATE_KEY_FILE}"
    );
    let api = if instance.api_url == "https://api.github.com" {
        String::new()
    } else {
        format!(" --set config.github.apiUrl={}", instance.api_url)
    };
    println!(
        "  3. Deploy: helm install healbot charts/healbot --set config.github.appId={}{api} ...",
        app.id
    );
    println!("  4. Then delete {d}: the private key belongs only in the cluster's secret.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_keeps_the_manifest_inside_its_attribute() {
        let escaped = escape_html(r#"{"name":"a\"><script>x</script>'&"}"#);
        assert!(!escaped.contains('"') && !escaped.contains('<') && !escaped.contains('\''));
        assert!(escaped.contains("&quot;") && escaped.contains("&amp;"));
    }

    #[test]
    fn an_existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PRIVATE_KEY_FILE), "old").unwrap();
        let err = prepare_output_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        let fresh = dir.path().join("new");
        prepare_output_dir(&fresh).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn states_differ_and_compare_in_constant_time() {
        let (a, b) = (random_state().unwrap(), random_state().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), b.as_bytes()));
        assert!(!constant_time_eq(b"", a.as_bytes()));
    }
}
