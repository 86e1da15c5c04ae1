//! Test support for upgrades: the STAND-IN Kubernetes API with simulated nodes ([`kubeapi`]), and a small client
//! of it ([`probe`]).
#![allow(dead_code, unused_imports)]

pub mod kubeapi;
pub mod probe;
