//! Test support for upgrades: the STAND-IN Kubernetes API with simulated nodes ([`kubeapi`]).
#![allow(dead_code, unused_imports)]

pub mod kubeapi;
