//! Reloading the rules without dropping a session: on SIGHUP and on `hoop reload` (a request
//! on the control socket, answered with the outcome).
//!
//! A reload reads the file again, validates it as `hoop config check` does, and builds every
//! reloadable part — trust rules, statement rules, masking, approvers, auditors — before it
//! replaces any: a file that does not validate, or that changes a key only a restart applies
//! ([`Config::restart_changes`]), is refused as a whole and the running configuration stays.
//! Every reload, applied or refused, is an audit event with the file's SHA-256; recordings
//! name the same digest before the statements its rules decide.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::api::ApiState;
use crate::audit::{Action, AuditEvent, Outcome};
use crate::base::{SecretEnv, Sha256};
use crate::config::{Config, ConfigError};
use crate::gateway::Gateway;
use crate::session::Core;

/// The control socket's request for a reload, one line.
pub const RELOAD_REQUEST: &str = "reload";

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{origin}: {keys} changed, which only a restart applies; nothing was reloaded (a reload \
         applies trust, rules, masking, policy.default_rules/protected_tables/pan_columns, \
         approvals.approvers and archive.auditors)"
    )]
    NeedsRestart { origin: String, keys: String },
}

/// What a reload put in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// SHA-256 of the file now in force.
    pub version: Sha256,
    /// The file was the one already in force: nothing changed.
    pub unchanged: bool,
}

/// The running server's reloadable parts and the configuration in force.
pub struct Reloader<'e> {
    path: PathBuf,
    env: &'e dyn SecretEnv,
    running: Mutex<Config>,
    state: ApiState,
    gateway: Arc<Gateway>,
    core: Arc<Core>,
}

impl<'e> Reloader<'e> {
    pub fn new(
        path: &Path,
        env: &'e dyn SecretEnv,
        running: Config,
        state: ApiState,
        gateway: Arc<Gateway>,
        core: Arc<Core>,
    ) -> Self {
        Reloader {
            path: path.to_owned(),
            env,
            running: Mutex::new(running),
            state,
            gateway,
            core,
        }
    }

    /// Reloads the file; `how` names the trigger in the audit trail (`SIGHUP`, `hoop reload`).
    pub async fn reload(&self, how: &str) -> Result<Reloaded, ReloadError> {
        let result = self.try_reload();
        let (outcome, code, message) = match &result {
            Ok(r) if r.unchanged => (
                Outcome::Success,
                "config_unchanged",
                format!(
                    "reload ({how}): configuration {} already in force",
                    r.version.to_hex()
                ),
            ),
            Ok(r) => (
                Outcome::Success,
                "config_reloaded",
                format!(
                    "reload ({how}): configuration {} in force",
                    r.version.to_hex()
                ),
            ),
            Err(e) => (
                Outcome::Error,
                "config_reload_refused",
                format!("reload ({how}) refused, the running configuration stays: {e}"),
            ),
        };
        match &result {
            Ok(_) => tracing::info!(%how, "{message}"),
            Err(_) => tracing::error!(target: "hoop::alert", %how, "{message}"),
        }
        let event = AuditEvent::new(Action::Config, outcome, code, message);
        if let Err(e) = self.state.broker.audit().record(&event).await {
            tracing::error!(error = %e, "cannot write the audit event of a reload");
        }
        result
    }

    fn try_reload(&self) -> Result<Reloaded, ReloadError> {
        let origin = self.path.display().to_string();
        let new = Config::load(&self.path)?;
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let version = new.digest();
        if version == running.digest() {
            return Ok(Reloaded {
                version,
                unchanged: true,
            });
        }
        let needs_restart = running.restart_changes(&new);
        if !needs_restart.is_empty() {
            return Err(ReloadError::NeedsRestart {
                origin,
                keys: needs_restart.join(", "),
            });
        }
        // Everything is built before anything is replaced.
        let trust = new.trust_policy(&origin)?;
        let rules = super::rules_in_force(&new, &origin)?;
        let masking = super::masking_policy(&new, self.env, &origin)?;
        // Not reloaded (the key signs from start to stop), but checked as `hoop config check`
        // does: a key file swapped for one that cannot sign shows now, not at the next start.
        if let Some(archive) = &new.archive {
            archive
                .signing_key(self.env)
                .map_err(|e| ConfigError::new(&origin, e))?;
        }
        self.state.broker.replace_trust(trust);
        // A rule may now grant a role the database lacks: say so now, not at a job's exchange.
        tokio::spawn(super::alert_missing_policy_roles(self.state.broker.clone()));
        self.gateway.statements().replace(rules);
        self.core.replace_masking(masking);
        self.state
            .approvals
            .replace_approvers(&new.approvals.approvers);
        if let (Some(access), Some(archive)) = (&self.state.archive, &new.archive) {
            access.replace_auditors(&archive.auditors);
        }
        *running = new;
        Ok(Reloaded {
            version,
            unchanged: false,
        })
    }

    /// Reloads on every SIGHUP and every request on `control`, until the future is dropped.
    pub async fn serve(&self, control: Option<UnixListener>) {
        let mut hangups = hangup_signals();
        loop {
            tokio::select! {
                Some(()) = next_hangup(&mut hangups) => {
                    let _ = self.reload("SIGHUP").await;
                }
                accepted = accept(control.as_ref()) => match accepted {
                    Ok(stream) => self.answer(stream).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    /// One control request: a line naming the command, answered with one JSON line.
    async fn answer(&self, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let mut request = BufReader::new(read).take(256);
        let read = request.read_line(&mut line);
        let answer = match tokio::time::timeout(CONTROL_READ_TIMEOUT, read).await {
            Ok(Ok(_)) if line.trim() == RELOAD_REQUEST => match self.reload("hoop reload").await {
                Ok(r) => serde_json::json!({
                    "ok": true,
                    "version": r.version.to_hex(),
                    "unchanged": r.unchanged,
                }),
                Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
            },
            Ok(Ok(_)) => serde_json::json!({
                "ok": false,
                "error": format!("unknown request {:?}; the control socket answers {RELOAD_REQUEST:?}", line.trim()),
            }),
            Ok(Err(_)) | Err(_) => return,
        };
        let mut out = answer.to_string();
        out.push('\n');
        let _ = write.write_all(out.as_bytes()).await;
    }
}

/// How long a control client has to send its request line.
const CONTROL_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn accept(control: Option<&UnixListener>) -> std::io::Result<UnixStream> {
    match control {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

fn hangup_signals() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP; use hoop reload"))
        .ok()
}

async fn next_hangup(signals: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signals {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Binds the control socket at `path`, readable and writable by the server's own user only
/// (a reload needs no more than that user could do by editing the file). A socket a previous
/// run left behind is replaced; a live server on it is not: the bind then fails.
pub fn bind_control(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("{} is the control socket of a running hoop", path.display()),
        ));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// `hoop reload`: asks the server whose control socket is `path` to reload, and returns its
/// answer.
pub async fn request_reload(path: &Path) -> Result<Reloaded, String> {
    let mut stream = UnixStream::connect(path).await.map_err(|e| {
        format!(
            "cannot reach a running hoop at {}: {e} (is `hoop serve` running with this \
             configuration, as this user?)",
            path.display()
        )
    })?;
    stream
        .write_all(format!("{RELOAD_REQUEST}\n").as_bytes())
        .await
        .map_err(|e| format!("cannot send the request to {}: {e}", path.display()))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .await
        .map_err(|e| format!("no answer from {}: {e}", path.display()))?;
    let answer: serde_json::Value = serde_json::from_str(&line)
        .map_err(|_| format!("{} did not answer as hoop does", path.display()))?;
    if answer["ok"] == true {
        let version = answer["version"]
            .as_str()
            .and_then(Sha256::from_hex)
            .ok_or_else(|| format!("{} answered without a version", path.display()))?;
        Ok(Reloaded {
            version,
            unchanged: answer["unchanged"] == true,
        })
    } else {
        Err(answer["error"]
            .as_str()
            .unwrap_or("the reload was refused")
            .to_owned())
    }
}
