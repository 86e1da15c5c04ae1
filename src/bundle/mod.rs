//! Manifests the agent writes into k3s's auto-deploy directory on servers.

pub mod charts;
pub mod rook;
