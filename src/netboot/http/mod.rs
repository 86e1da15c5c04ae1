//! HTTP for netboot (docs/netboot.md, "HTTP"): artifacts (kernel, initrd, raw images) with
//! admission control, and the iPXE scripts (`ipxe`). The router here serves one artifact
//! directory; `kateskit netboot serve` nests it beside its other endpoints.

pub mod admission;
pub mod confine;
mod files;
pub mod ipxe;
pub mod range;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use admission::Admission;
pub use confine::Root;
pub use files::CHUNK;

/// Limits of the artifact server.
#[derive(Debug, Clone)]
pub struct ArtifactConfig {
    /// Bodies sent at once; further requests wait in arrival order.
    pub slots: usize,
    /// Longest wait for a slot before 503 with Retry-After.
    pub max_wait: Duration,
    /// A body that made no progress this long gives up its slot (the connection stays).
    pub stall_timeout: Duration,
}

impl Default for ArtifactConfig {
    fn default() -> Self {
        ArtifactConfig {
            slots: 16,
            max_wait: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// One answered request, for the boot timeline (HTTP knows the client's IP, not its MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEvent {
    pub client: SocketAddr,
    pub method: String,
    /// The path as requested (still percent-encoded).
    pub path: String,
    pub status: u16,
    /// Body bytes handed to the connection.
    pub bytes: u64,
    /// False when the client went away before the body ended.
    pub complete: bool,
}

/// What the artifact handler shares between requests.
#[derive(Clone)]
pub struct ArtifactState {
    root: Root,
    admission: Admission,
    stall_timeout: Duration,
    events: Option<mpsc::Sender<HttpEvent>>,
}

impl ArtifactState {
    pub fn new(root: Root, cfg: &ArtifactConfig, events: Option<mpsc::Sender<HttpEvent>>) -> Self {
        ArtifactState {
            root,
            admission: Admission::new(cfg.slots, cfg.max_wait),
            stall_timeout: cfg.stall_timeout,
            events,
        }
    }

    /// The admission queue (to show free slots).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    fn emit(&self, event: HttpEvent) {
        if let Some(tx) = &self.events {
            // A full channel drops the event rather than stall a transfer.
            let _ = tx.try_send(event);
        }
    }
}

/// GET/HEAD of every file beneath the artifact directory, at any path.
pub fn artifact_router(state: ArtifactState) -> Router {
    Router::new().fallback(files::serve_file).with_state(state)
}

/// Serves `router` on `listener` until the task is dropped. The client address reaches the
/// handlers (events name it).
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
