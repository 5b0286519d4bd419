//! Which worker runs which users: Locust's `UsersDispatcher`. Users come in the weighted order
//! of a single run (fixed counts first, then the KL round robin) and are dealt round-robin over
//! the workers in Locust's worker order; a ramp-down stops the latest users first, and a change
//! of workers deals the same number of users again from scratch.

use std::collections::{BTreeMap, HashMap};

use crate::engine::dispatch::{DispatchType, Dispatcher};

/// Locust's worker order: by id, then interleaved by host (the part of the id before `_`), so
/// consecutive users land on different machines.
pub fn ordered(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    let mut per_host: HashMap<String, usize> = HashMap::new();
    let mut keyed: Vec<(usize, String)> = ids
        .into_iter()
        .map(|id| {
            let host = id.split('_').next().unwrap_or("").to_string();
            let n = per_host.entry(host).or_default();
            *n += 1;
            (*n - 1, id)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, id)| id).collect()
}

pub struct Deal {
    types: Vec<DispatchType>,
    /// (worker id, type index) per user, in the order they were started.
    active: Vec<(String, usize)>,
    /// Users per type index.
    per_type: Vec<u64>,
    cursor: usize,
    dispatcher: Dispatcher,
}

impl Deal {
    /// `type_count`: how many types the scenario has (indices of `types` are below it).
    pub fn new(types: Vec<DispatchType>, type_count: usize) -> Deal {
        Deal {
            dispatcher: Dispatcher::new(&types),
            types,
            active: Vec::new(),
            per_type: vec![0; type_count],
            cursor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Adds up to `n` users over `workers` (in Locust's order); fewer when only full
    /// fixed-count types are left, none without workers.
    pub fn add(&mut self, workers: &[String], n: usize) {
        if workers.is_empty() {
            return;
        }
        for _ in 0..n {
            let Some(t) = self.dispatcher.next(&self.per_type) else {
                break;
            };
            self.active
                .push((workers[self.cursor % workers.len()].clone(), t));
            self.cursor += 1;
            self.per_type[t] += 1;
        }
    }

    /// Keeps the first `keep` users.
    pub fn remove(&mut self, keep: usize) {
        while self.active.len() > keep {
            if let Some((_, t)) = self.active.pop() {
                self.per_type[t] -= 1;
            }
        }
        self.cursor = self.active.len();
    }

    /// The same number of users dealt afresh over `workers`.
    pub fn redeal(&mut self, workers: &[String]) {
        let n = self.len();
        *self = Deal::new(std::mem::take(&mut self.types), self.per_type.len());
        self.add(workers, n);
    }

    /// Each worker's users per type name, every type listed (Locust sends zeros too).
    pub fn per_worker(&self, workers: &[String]) -> BTreeMap<String, BTreeMap<String, u64>> {
        let zeros: BTreeMap<String, u64> = self.types.iter().map(|t| (t.name.clone(), 0)).collect();
        let mut out: BTreeMap<String, BTreeMap<String, u64>> =
            workers.iter().map(|w| (w.clone(), zeros.clone())).collect();
        for (worker, t) in &self.active {
            if let Some(counts) = out.get_mut(worker) {
                *counts.entry(self.name_of(*t)).or_default() += 1;
            }
        }
        out
    }

    /// Users per type name over all workers.
    pub fn totals(&self) -> BTreeMap<String, u64> {
        self.types
            .iter()
            .map(|t| (t.name.clone(), self.per_type[t.index]))
            .collect()
    }

    pub fn fixed_total(&self) -> u64 {
        self.types.iter().map(|t| t.fixed_count).sum()
    }

    fn name_of(&self, index: usize) -> String {
        self.types
            .iter()
            .find(|t| t.index == index)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal() -> Deal {
        let types = vec![
            DispatchType {
                index: 0,
                name: "ApiUser".into(),
                weight: 1.0,
                fixed_count: 0,
            },
            DispatchType {
                index: 1,
                name: "WebUser".into(),
                weight: 3.0,
                fixed_count: 0,
            },
        ];
        Deal::new(types, 2)
    }

    /// (ApiUser, WebUser) per worker.
    fn dealt(d: &Deal, workers: &[String]) -> Vec<(u64, u64)> {
        d.per_worker(workers)
            .values()
            .map(|c| (c["ApiUser"], c["WebUser"]))
            .collect()
    }

    #[test]
    fn users_are_dealt_as_locusts_master_deals_them() {
        // Captured from Locust 2.47 (-u 8 -r 4, WebUser 3 : ApiUser 1, two workers on one
        // host): after the first step vm_575b {Api 0, Web 2} and vm_9a44 {Api 1, Web 1};
        // after the second {Api 0, Web 4} and {Api 2, Web 2}.
        let workers = ordered(["vm_9a44", "vm_575b"].map(String::from).into_iter());
        assert_eq!(workers, ["vm_575b", "vm_9a44"]);
        let mut d = deal();
        d.add(&workers, 4);
        assert_eq!(dealt(&d, &workers), [(0, 2), (1, 1)]);
        d.add(&workers, 4);
        assert_eq!(dealt(&d, &workers), [(0, 4), (2, 2)]);
        assert_eq!(d.totals()["WebUser"], 6);
        // Down to 5: the latest users stop first.
        d.remove(5);
        assert_eq!(dealt(&d, &workers), [(0, 3), (1, 1)]);
        // One worker left: the same 5 users, dealt again.
        let one = vec!["vm_575b".to_string()];
        d.redeal(&one);
        assert_eq!(dealt(&d, &one), [(1, 4)]);
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn workers_are_ordered_by_id_then_interleaved_by_host() {
        let ids = ["b_2", "a_9", "a_1", "b_1", "c_1"].map(String::from);
        assert_eq!(
            ordered(ids.into_iter()),
            ["a_1", "b_1", "c_1", "a_9", "b_2"]
        );
    }

    #[test]
    fn no_workers_no_users() {
        let mut d = deal();
        d.add(&[], 3);
        assert!(d.is_empty());
    }
}
