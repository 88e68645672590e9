//! What asks for a reload: a change to the config file or a rule file
//! (watched with notify), SIGHUP and `POST /-/reload`. They only ask; the
//! tick loop reloads, all or nothing, between two ticks. `POST /-/reload`
//! waits for the outcome and answers with it.

use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// A request for a reload. The HTTP endpoint passes `reply` and waits for
/// the outcome; a file change or SIGHUP does not wait.
#[derive(Debug, Default)]
pub struct Request {
    pub reply: Option<tokio::sync::oneshot::Sender<Outcome>>,
}

/// What a reload did: applied (naming the changed settings that take
/// effect only on a restart), or refused with the reason.
pub type Outcome = Result<Applied, String>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Settings that differ from the running ones but that a reload does
    /// not apply, by their config names.
    pub needs_restart: Vec<&'static str>,
}

/// Keeps watching while it lives.
pub struct FileWatch {
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Watches `paths` (files or folders) and asks for a reload when one of
/// them changes. Folders are watched rather than files, since editors
/// replace a file by renaming a new one over it.
pub fn watch_files(paths: &[PathBuf], requests: mpsc::Sender<Request>) -> FileWatch {
    if paths.is_empty() {
        return FileWatch { _watcher: None };
    }
    let wanted: Vec<PathBuf> = paths.iter().map(|p| absolute(p)).collect();
    let relevant = wanted.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| relevant.iter().any(|w| p == w || p.starts_with(w)))
        {
            // A full channel already holds a request: nothing is lost.
            let _ = requests.try_send(Request::default());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch config and rule files; reload with SIGHUP");
            return FileWatch { _watcher: None };
        }
    };
    let mut folders: Vec<&Path> = wanted
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.as_path()
            } else {
                p.parent().unwrap_or(p)
            }
        })
        .collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
            warn!(path = %folder.display(), error = %e, "cannot watch folder");
        }
    }
    info!(
        files = wanted.len(),
        "watching config and rule files for changes"
    );
    FileWatch {
        _watcher: Some(watcher),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Asks for a reload on every SIGHUP.
pub fn on_sighup(requests: mpsc::Sender<Request>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    info!(signal = "SIGHUP", "reload requested");
                    let _ = requests.try_send(Request::default());
                }
            });
        }
        Err(e) => warn!(error = %e, "cannot watch SIGHUP"),
    }
}
