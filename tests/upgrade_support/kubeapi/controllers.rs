//! The controllers that bring pods back: the pod GC after a deletion's grace, ReplicaSets
//! (replacements, Pending until a schedulable Ready node is free), DaemonSets (one pod per
//! node, cordoned or not) and the kubelet (mirror pods of static pods).

use std::time::Instant;

use super::world::{Pod, World};

/// Removes pods whose grace is over; ReplicaSets, DaemonSets and kubelets (mirror pods)
/// replace what is missing; Pending pods go to a schedulable Ready node.
pub(super) fn run(w: &mut World, now: Instant) -> bool {
    let gone: Vec<_> = w
        .pods
        .iter()
        .filter(|(_, p)| p.deleting.as_ref().is_some_and(|(t, _)| *t <= now))
        .map(|(k, _)| k.clone())
        .collect();
    let mut changed = !gone.is_empty();
    for k in gone {
        let p = w.pods.remove(&k).unwrap();
        if p.annotations.contains_key(super::MIRROR) {
            let mut again = Pod::new(w, &p.ns, &p.name, p.node.clone(), p.labels.clone(), None);
            again.annotations = p.annotations.clone();
            again.ready_at = Some(now + w.timings.reschedule);
            w.insert_pod(again);
        }
    }
    for c in w.controllers.clone() {
        let active: Vec<Pod> = w
            .pods
            .values()
            .filter(|p| p.deleting.is_none() && p.owner.as_ref().is_some_and(|o| o.uid == c.uid))
            .cloned()
            .collect();
        if c.kind == "DaemonSet" {
            let nodes: Vec<String> = w.nodes.keys().cloned().collect();
            for node in nodes
                .into_iter()
                .filter(|n| !active.iter().any(|p| &p.node == n))
            {
                let mut p = w.controller_pod(&c, node);
                p.ready_at = Some(now + w.timings.reschedule);
                w.insert_pod(p);
                changed = true;
            }
        } else {
            for _ in active.len()..c.replicas as usize {
                let mut p = w.controller_pod(&c, String::new());
                p.ready_at = None;
                w.insert_pod(p);
                changed = true;
            }
        }
    }
    let pending: Vec<_> = w
        .pods
        .iter()
        .filter(|(_, p)| p.node.is_empty() && p.deleting.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for k in pending {
        let owner = w.pods[&k].owner.as_ref().map(|o| o.uid.clone());
        let count = |node: &str| {
            let mine =
                |p: &&Pod| p.node == node && p.owner.as_ref().map(|o| &o.uid) == owner.as_ref();
            w.pods.values().filter(mine).count()
        };
        let best = w
            .nodes
            .values()
            .filter(|n| !n.unschedulable && n.sim.ready())
            .min_by_key(|n| (count(&n.name), n.name.clone()))
            .map(|n| n.name.clone());
        if let Some(node) = best {
            let rv = w.bump();
            let p = w.pods.get_mut(&k).unwrap();
            p.node = node;
            p.ready_at = Some(now + w.timings.reschedule);
            p.rv = rv;
            changed = true;
        }
    }
    changed
}
