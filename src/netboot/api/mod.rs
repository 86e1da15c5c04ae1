//! The netboot control plane over HTTP (docs/netboot.md "Configs and approval", "Status"): an
//! axum [`Router`] that `kateskit netboot serve` mounts. `GET /v1/config/{mac}` holds the
//! node's secrets and is meant to be offered over HTTPS only (pinned by the kernel
//! arguments); every other route shows only what the fleet state holds, which has none.

mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::netboot::fleet::{self, Answer, Fleet, FleetError};

/// Largest status POST taken (an agent's status.json is a few KiB).
pub const STATUS_BODY_CAP: usize = 64 << 10;

/// The control-plane routes over `fleet`.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/", get(fleet_page))
        .route("/v1/nodes", get(nodes))
        .route("/v1/config/:mac", get(config))
        .route("/v1/status/:mac", post(status))
        .layer(DefaultBodyLimit::max(STATUS_BODY_CAP))
        .with_state(fleet)
}

fn peer(ci: Option<ConnectInfo<SocketAddr>>) -> Option<std::net::IpAddr> {
    ci.map(|ConnectInfo(a)| a.ip())
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn fleet_error(e: FleetError) -> Response {
    match e {
        FleetError::BadMac(_) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        e => {
            tracing::error!("netboot fleet: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

async fn config(
    State(f): State<Arc<Fleet>>,
    Path(mac): Path<String>,
    ci: Option<ConnectInfo<SocketAddr>>,
) -> Response {
    let ip = peer(ci);
    let r = tokio::task::spawn_blocking(move || f.config_for(&mac, ip)).await;
    match r {
        Ok(Ok(Answer::Config(body))) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Ok(Ok(Answer::Pending(reason))) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            Answer::pending_body(&reason),
        )
            .into_response(),
        Ok(Ok(Answer::Ignore)) => {
            text(StatusCode::NOT_FOUND, "no config for this machine\n".into())
        }
        Ok(Err(e)) => fleet_error(e),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn status(
    State(f): State<Arc<Fleet>>,
    Path(mac): Path<String>,
    ci: Option<ConnectInfo<SocketAddr>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ip = peer(ci);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let r =
        tokio::task::spawn_blocking(move || f.status_post(&mac, auth.as_deref(), &body, ip)).await;
    match r {
        Ok(Ok(())) => text(StatusCode::OK, "ok\n".into()),
        Ok(Err(fleet::status_post::StatusError::Unauthorized(_))) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"kateskit status\"")],
            "this node's status credential is required (it comes in the node's config)\n",
        )
            .into_response(),
        Ok(Err(fleet::status_post::StatusError::Body(e))) => {
            text(StatusCode::BAD_REQUEST, format!("{e}\n"))
        }
        Ok(Err(fleet::status_post::StatusError::Fleet(e))) => fleet_error(e),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn nodes(State(f): State<Arc<Fleet>>) -> Response {
    match tokio::task::spawn_blocking(move || f.nodes()).await {
        Ok(Ok(rows)) => Json(rows).into_response(),
        Ok(Err(e)) => fleet_error(e),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

async fn fleet_page(State(f): State<Arc<Fleet>>) -> Response {
    match tokio::task::spawn_blocking(move || f.nodes()).await {
        Ok(Ok(rows)) => Html(page::render(&rows)).into_response(),
        Ok(Err(e)) => fleet_error(e),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}
