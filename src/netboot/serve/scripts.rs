//! The iPXE endpoints: `/boot.ipxe` (the chain script DHCP names) and `/boot/{mac}` (the
//! per-machine boot script: kernel, the generic initrd, and kernel arguments with the HTTPS
//! config URL and the server's key pin). Neither carries a secret; the node's credentials come
//! only in the HTTPS config.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::timeline::Timeline;
use crate::netboot::fleet::{self, EventKind, Fleet, Unknown};
use crate::netboot::http::ipxe::{self, BootScript, ChainScript, ConfigPin};

/// The kernel and initrd file names in the artifact directory.
pub const KERNEL: &str = "vmlinuz";
pub const INITRD: &str = "initrd.img";

/// What the script handlers share.
#[derive(Clone)]
pub struct Scripts {
    pub fleet: Arc<Fleet>,
    pub timeline: Timeline,
    /// `http://IP:PORT` (scripts and artifacts).
    pub http_base: String,
    /// `https://IP:PORT` (configs).
    pub https_base: String,
    pub spki_sha256: String,
    pub unknown: Unknown,
    pub kargs: Arc<Vec<String>>,
}

pub fn router(s: Scripts) -> Router {
    Router::new()
        .route("/boot.ipxe", get(chain))
        .route("/boot/:mac", get(boot))
        .with_state(s)
}

fn script(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn chain(State(s): State<Scripts>) -> Response {
    let endpoint = format!("{}/boot", s.http_base);
    match ipxe::render_chain(&ChainScript {
        endpoint: &endpoint,
        dhcp_attempts: 5,
    }) {
        Ok(body) => script(body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn boot(
    State(s): State<Scripts>,
    Path(mac): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let Ok(mac) = fleet::parse_mac(&mac) else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected /boot/MAC (aa-bb-cc-dd-ee-ff)\n".into(),
        );
    };
    s.timeline.learn(peer.ip(), &mac);
    let node = s
        .fleet
        .snapshot()
        .machines
        .get(&mac)
        .and_then(|m| m.node.clone());
    if node.is_none() && s.unknown == Unknown::Ignore && !approved(&s, &mac).await {
        s.timeline.record(
            &mac,
            EventKind::Ignored,
            false,
            "boot script refused: unknown machine",
            Some(peer.ip()),
        );
        return text(
            StatusCode::NOT_FOUND,
            "no boot script for this machine\n".into(),
        );
    }
    let name = node.unwrap_or_else(|| "unconfigured".into());
    let kernel = format!("{}/artifacts/{KERNEL}", s.http_base);
    let initrd = format!("{}/artifacts/{INITRD}", s.http_base);
    let config_url = format!("{}/v1/config/{mac}", s.https_base);
    let r = ipxe::render_boot(&BootScript {
        node: &name,
        kernel_url: &kernel,
        initrd_url: &initrd,
        config_url: &config_url,
        config_pin: ConfigPin::TlsSha256(&s.spki_sha256),
        kargs: &s.kargs,
    });
    match r {
        Ok(body) => {
            s.timeline.record(
                &mac,
                EventKind::Script,
                true,
                &format!("boot script for {name}"),
                Some(peer.ip()),
            );
            script(body)
        }
        Err(e) => {
            s.timeline.record(
                &mac,
                EventKind::Script,
                false,
                &e.to_string(),
                Some(peer.ip()),
            );
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

/// Whether an approval names `mac` (read from the state directory the CLI writes).
async fn approved(s: &Scripts, mac: &str) -> bool {
    let dir = s.fleet.state_dir().to_path_buf();
    let mac = mac.to_string();
    tokio::task::spawn_blocking(move || {
        fleet::approve::read_all(&dir).is_ok_and(|a| a.iter().any(|a| a.mac == mac))
    })
    .await
    .unwrap_or(false)
}
