//! `kateskit cluster import k3os`: placeholder, filled in below.
