//! `healbot audit backup|truncate|rebuild`: the runbook's tools for the log itself (see
//! `audit::maintenance`). Each prints what it did in one or two lines.

use super::EXIT_UNREADABLE;
use crate::audit::checkpoint::SigningKey;
use crate::audit::maintenance::{self, Act, Signing};
use crate::audit::AuditStore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Who acts: `--as`, else `$USER`, else "operator".
pub(super) fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "operator".to_string())
}

fn signing(path: &Path, every: u64) -> Result<Signing, ExitCode> {
    match SigningKey::from_file(path) {
        Ok(key) => Ok(Signing { key, every }),
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}

pub(super) async fn backup(
    file: Option<PathBuf>,
    redis: Option<(String, String)>,
    to: PathBuf,
) -> anyhow::Result<ExitCode> {
    let (source, result) = match (file, redis) {
        (Some(file), _) => {
            let shown = file.display().to_string();
            let to2 = to.clone();
            let r = tokio::task::spawn_blocking(move || maintenance::backup(&file, &to2)).await?;
            (shown, r.map_err(|e| e.to_string()))
        }
        (None, Some((url, chain))) => {
            let r = backup_redis(&url, &chain, &to).await;
            (format!("the chain {chain} on Redis"), r)
        }
        (None, None) => {
            eprintln!("error: name an audit log file, or --redis URL");
            return Ok(ExitCode::from(EXIT_UNREADABLE));
        }
    };
    match result {
        Ok(b) => {
            let head = b
                .head
                .map(|(s, h)| format!("head seq {s} hash {h}"))
                .unwrap_or_else(|| "empty".into());
            println!(
                "backed up {} entries of {source} ({head}, {} checkpoints) to {}; read back and verified",
                b.entries,
                b.checkpoints,
                to.display()
            );
            if let Some(broken) = b.broken {
                println!("warning: the copied chain does not hold: {broken}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}

/// The shared chain, written as a JSONL log (and its checkpoints) a file verify reads.
async fn backup_redis(url: &str, chain: &str, to: &Path) -> Result<maintenance::Backup, String> {
    let store =
        crate::audit::redis::RedisAuditStore::open(url, chain, None).map_err(|e| e.to_string())?;
    let entries = store.entries().await.map_err(|e| e.to_string())?;
    let checkpoints = crate::audit::redis::RedisCheckpoints::open(url, chain, None)
        .map_err(|e| e.to_string())?
        .all()
        .await
        .map_err(|e| e.to_string())?;
    let staging = tempfile_in(to)?;
    let mut text = String::new();
    for e in &entries {
        text.push_str(&serde_json::to_string(e).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    std::fs::write(&staging, text).map_err(|e| e.to_string())?;
    if !checkpoints.is_empty() {
        let mut cps = String::new();
        for c in &checkpoints {
            cps.push_str(&serde_json::to_string(c).map_err(|e| e.to_string())?);
            cps.push('\n');
        }
        let path = crate::audit::checkpoint::checkpoints_path(&staging);
        std::fs::write(&path, cps).map_err(|e| e.to_string())?;
    }
    let result = maintenance::backup(&staging, to).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(crate::audit::checkpoint::checkpoints_path(&staging));
    let _ = std::fs::remove_file(&staging);
    result
}

fn tempfile_in(to: &Path) -> Result<PathBuf, String> {
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(dir.join(format!(
        ".healbot-backup-{}-{}.jsonl",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )))
}

pub(super) async fn truncate(
    file: PathBuf,
    at: u64,
    key: Option<PathBuf>,
    every: u64,
    act: Act,
) -> anyhow::Result<ExitCode> {
    let signing = match key.map(|k| signing(&k, every)).transpose() {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    match maintenance::truncate(&file, at, &act, signing.as_ref()).await {
        Ok(t) => {
            println!(
                "kept {} entries; cut {} (seq {at} on) into {}",
                t.kept,
                t.cut,
                t.cut_file.display()
            );
            println!(
                "recorded as seq {} ({}) hash {}",
                t.entry.seq, t.entry.action, t.entry.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}

pub(super) async fn rebuild(
    file: PathBuf,
    from: u64,
    key: PathBuf,
    every: u64,
    act: Act,
) -> anyhow::Result<ExitCode> {
    let signing = match signing(&key, every) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    match maintenance::rebuild(&file, from, &act, &signing).await {
        Ok(r) => {
            println!(
                "re-chained {} entries from seq {from}; the original is {}",
                r.rechained,
                r.original_file.display()
            );
            println!(
                "recorded as seq {} ({}) hash {}",
                r.entry.seq, r.entry.action, r.entry.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_UNREADABLE))
        }
    }
}
