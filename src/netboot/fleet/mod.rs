//! The fleet behind `kateskit netboot serve` (docs/netboot.md "Configs and approval",
//! "Status"): per MAC, the node it is (cluster.toml's MACs, or an approval), the config it may
//! fetch (agents always; a server config once per approval), machines held pending, and a
//! bounded boot timeline from DHCP to the join. State lives in the state directory:
//! `fleet.json` (the server's), `approvals/` (the CLI's) and `status.key`.

pub mod approve;
pub mod approved;
pub mod credential;
mod decide;
pub mod state;
pub mod status_post;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use approve::{Approval, Target};
pub use decide::Answer;
pub use state::{Event, EventKind, FleetState, Machine};

use crate::pki::Secrets;
use crate::spec::ClusterSpec;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("`{0}` is not a MAC address; write it as 52:54:00:12:34:56 (or with `-`)")]
    BadMac(String),
    #[error(transparent)]
    Io(#[from] crate::fsutil::FsError),
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("approval for {mac} names node `{node}`, which cluster.toml does not have (known: {known}); approve it again with one of those, or --as agent|server")]
    UnknownNode {
        mac: String,
        node: String,
        known: String,
    },
    #[error("rendering the config of node `{node}`: {source}")]
    Render {
        node: String,
        #[source]
        source: crate::nodecfg::RenderError,
    },
}

/// What the server does with a machine no node and no approval names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unknown {
    /// No answer: the config endpoint says 404.
    #[default]
    Ignore,
    /// Boot it into the agent's `unconfigured` state until approved (202).
    Pending,
}

/// `aa:bb:cc:dd:ee:ff`, from that, upper case, or `-` separators (iPXE's `${mac:hexhyp}`).
pub fn parse_mac(s: &str) -> Result<String, FleetError> {
    s.trim()
        .parse::<crate::mac::MacAddr>()
        .map(|m| m.to_string())
        .map_err(|_| FleetError::BadMac(crate::redact::text(s)))
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The running fleet: the cluster it serves and its state, shared by the HTTP handlers.
/// One timeline event to record (the writer's queue entry).
#[derive(Debug, Clone)]
pub struct Record {
    pub mac: String,
    pub kind: EventKind,
    pub ok: bool,
    pub detail: String,
    pub ip: Option<std::net::IpAddr>,
}

pub struct Fleet {
    spec: ClusterSpec,
    secrets: Secrets,
    state_dir: PathBuf,
    unknown: Unknown,
    /// `https://ADDR:PORT` the nodes reach this server at (the phone_home URL's base).
    public_url: String,
    key: credential::StatusKey,
    state: Mutex<FleetState>,
}

impl Fleet {
    /// Opens the state directory (made 0700 if missing) and enters cluster.toml's nodes that
    /// have MACs as `known`.
    pub fn open(
        spec: ClusterSpec,
        secrets: Secrets,
        state_dir: &Path,
        unknown: Unknown,
        public_url: &str,
    ) -> Result<Fleet, FleetError> {
        crate::fsutil::ensure_dir(state_dir, 0o700)?;
        let key = credential::StatusKey::open(state_dir)?;
        let mut st = FleetState::load(state_dir)?;
        st.version = 1;
        for n in &spec.nodes {
            for mac in n.macs.iter().filter_map(|m| parse_mac(m).ok()) {
                let m = st.machine(&mac);
                m.node = Some(n.name.clone());
                m.role = Some(n.role.as_str().into());
                if m.state == "pending" {
                    m.state = "known".into();
                }
            }
        }
        st.save(state_dir)?;
        Ok(Fleet {
            spec,
            secrets,
            state_dir: state_dir.to_path_buf(),
            unknown,
            public_url: public_url.trim_end_matches('/').to_string(),
            key,
            state: Mutex::new(st),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FleetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a boot stage of `mac` (DHCP, TFTP, script, kernel, initrd ...) in its timeline.
    pub fn record(
        &self,
        mac: &str,
        kind: EventKind,
        ok: bool,
        detail: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), FleetError> {
        self.record_all(&[Record {
            mac: mac.to_string(),
            kind,
            ok,
            detail: detail.to_string(),
            ip,
        }])
    }

    /// Records several events with one write of `fleet.json` (the timeline writer drains its
    /// queue into one batch: a busy segment costs one rewrite per batch, not per packet). A
    /// record with a bad MAC is skipped and reported after the others were saved.
    pub fn record_all(&self, records: &[Record]) -> Result<(), FleetError> {
        let mut bad = None;
        let mut st = self.lock();
        let at = now();
        for r in records {
            let mac = match parse_mac(&r.mac) {
                Ok(m) => m,
                Err(e) => {
                    bad = Some(e);
                    continue;
                }
            };
            let m = st.machine(&mac);
            m.push(at, r.kind, r.ok, &r.detail);
            if let Some(ip) = r.ip {
                m.ip = Some(ip.to_string());
            }
        }
        st.save(&self.state_dir)?;
        bad.map_or(Ok(()), Err)
    }

    /// The state directory (approvals are read from it).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A copy of the state, for views.
    pub fn snapshot(&self) -> FleetState {
        self.lock().clone()
    }

    /// Every machine as the status page, `GET /v1/nodes` and `netboot status` show it.
    pub fn nodes(&self) -> Result<Vec<view::NodeView>, FleetError> {
        let approvals = approve::read_all(&self.state_dir)?;
        Ok(view::nodes(&self.snapshot(), &approvals))
    }
}
