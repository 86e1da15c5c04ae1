//! The join phase: after k3s starts, verify the join and deploy what needs the API.

pub mod ceph_identity;
pub mod kube;
pub mod verify;
