//! `healbot serve --config FILE [--listen ADDR]`: runs the GitHub App's webhook server until
//! interrupted. Logs are JSON lines on stderr (`--log-format text` for people), for log collectors; secrets never appear in them.

use super::logging::{self, LogFormat};
use crate::config::bot::{BotConfig, WEBHOOK_SECRET_ENV};
use crate::server::{self, ServeOptions};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct ServeArgs {
    /// The bot's configuration (`healbot.yaml`).
    #[arg(long)]
    pub config: PathBuf,
    /// Address to listen on, overriding the file's `listen`.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// The server's logs: JSON unless `--log-format text`, filtered by `HEALBOT_LOG` (default `info`).
pub async fn run(args: ServeArgs, log_format: Option<LogFormat>) -> anyhow::Result<ExitCode> {
    let env_secret = crate::config::secrets::env_secret(WEBHOOK_SECRET_ENV);
    let mut config = BotConfig::load(&args.config, env_secret.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let (otlp, otlp_layer) = match &config.otlp {
        Some(target) => {
            let (export, layer) = super::otlp::OtlpExport::start(target)?;
            (Some(export), Some(layer))
        }
        None => (None, None),
    };
    let dispatch =
        logging::dispatch_with(log_format.unwrap_or(LogFormat::Json), "info", otlp_layer);
    warn_about_the_sandbox(&config, &dispatch);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let credentials = if config.github_credentials_present() {
        "present"
    } else {
        "missing (deliveries are verified, recorded and parsed only)"
    };
    // The audit shipper's settings, kept before the config goes to the server.
    let shipping = config.audit_elasticsearch.clone();
    let shipping_cursor = config.state_dir.join("audit-shipped-elasticsearch");
    // Built under the JSON logger, so its startup warnings reach the log.
    let build = server::app::build::from_config(&config);
    let app = tracing::instrument::WithSubscriber::with_subscriber(build, dispatch.clone())
        .await
        .context("cannot start the GitHub App")?
        .map(Arc::new);
    // Several replicas on one Redis take each delivery once.
    let claims = match &config.redis_url {
        Some(url) => {
            let replica = format!("{}:{}", BotConfig::replica_name(), std::process::id());
            Some(Arc::new(server::claims::DeliveryClaims::connect(
                url, &replica,
            )?))
        }
        None => None,
    };
    let options = ServeOptions {
        handler: app.clone().map(|a| a as Arc<dyn server::DeliveryHandler>),
        log: Some(dispatch.clone()),
        claims,
    };
    let handle = server::serve_on(listener, config, options).await?;
    let clock = match &app {
        Some(app) => {
            let _guard = tracing::dispatcher::set_default(&dispatch);
            app.resume().await;
            Some(app.start_escalation_clock(std::time::Duration::from_secs(60)))
        }
        None => None,
    };
    let shipper = match (&app, &shipping) {
        (Some(app), Some(target)) => {
            let _guard = tracing::dispatcher::set_default(&dispatch);
            let cursor = shipping_cursor.clone();
            let shipper = crate::audit::elasticsearch::EsShipper::new(target.clone(), cursor)?;
            Some(shipper.spawn(app.orchestrator().journal.store().clone()))
        }
        _ => None,
    };
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(addr = %handle.addr, github_credentials = credentials, "healbot serve listening");
    });
    shutdown_signal().await?;
    tracing::dispatcher::with_default(&dispatch, || tracing::info!("shutting down"));
    if let Some(clock) = clock {
        clock.abort();
    }
    if let Some(shipper) = shipper {
        shipper.abort();
    }
    handle.shutdown().await?;
    if let Some(otlp) = otlp {
        otlp.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// A check command is a repository's code on this host: say so loudly when it will run
/// without isolation, or not at all.
fn warn_about_the_sandbox(config: &BotConfig, dispatch: &tracing::Dispatch) {
    use crate::fix::{Sandbox, SandboxStatus};
    let status = Sandbox::new(config.validation.clone(), Default::default()).status();
    tracing::dispatcher::with_default(dispatch, || match &status {
        SandboxStatus::Bwrap => {
            tracing::info!(
                sandbox = "bwrap",
                "check commands run in the bubblewrap sandbox"
            )
        }
        SandboxStatus::Unsandboxed => tracing::warn!(
            sandbox = "none",
            "validation.sandbox is none: repositories' check commands run on this host without \
             isolation (network, files and processes of healbot's user are within their reach)"
        ),
        SandboxStatus::Unavailable(why) => tracing::warn!(
            sandbox = "unavailable",
            reason = %why,
            "no sandbox for check commands: they will not run, and every fix is escalated to a \
             person"
        ),
    });
}

/// Ctrl-C or SIGTERM (what Kubernetes sends).
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
    }
}
