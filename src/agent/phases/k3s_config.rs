//! The k3s-config phase: which supervisor to join, the k3s drop-ins, seeded CAs and the
//! bundle's manifests.

pub mod charts_fetch;
pub mod deploy;
pub mod reprovision;
