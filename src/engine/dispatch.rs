//! Which user type the next spawned user gets: Locust's dispatcher, so `-u 7` splits users over
//! types exactly as Locust would.
//!
//! Types are sorted by name. Types with a `fixed_count` are filled first; the rest come from a
//! weighted round robin that always picks the type whose share lags its weight the most
//! (Locust's "KL divergence" generator, a min-heap keyed on `w * log2(x / (x + 1))`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One heap item; ordered so that `BinaryHeap` (a max-heap) pops Python `heapq`'s minimum.
#[derive(Debug, Clone)]
struct Slot {
    score: f64,
    x: f64,
    weight: f64,
    name: String,
    index: usize,
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        // Python compares the tuples (score, x, weight, name) ascending; reverse for a max-heap.
        (other.score.total_cmp(&self.score))
            .then(other.x.total_cmp(&self.x))
            .then(other.weight.total_cmp(&self.weight))
            .then(other.name.cmp(&self.name))
    }
}

/// An endless weighted round robin over (index, name, weight).
#[derive(Debug, Clone)]
struct KlGenerator {
    heap: BinaryHeap<Slot>,
}

impl KlGenerator {
    fn new(types: &[(usize, &str, f64)]) -> Self {
        let heap = types
            .iter()
            .filter(|(_, _, w)| *w > 0.0)
            .map(|&(index, name, w)| Slot {
                score: w * (w / (w + 1.0)).log2(),
                x: w + 1.0,
                weight: w,
                name: name.to_string(),
                index,
            })
            .collect();
        KlGenerator { heap }
    }

    fn next(&mut self) -> Option<usize> {
        let mut top = self.heap.peek_mut()?;
        let index = top.index;
        let (x, w) = (top.x, top.weight);
        top.score = w * (x / (x + 1.0)).log2();
        top.x = x + 1.0;
        Some(index)
    }
}

/// The user types that can run, with their task plans: a weight or fixed count, and tasks
/// left after `tags` (a type without any is left out, with Locust's warning).
pub fn runnable(
    scenario: &crate::scenario::Scenario,
    types: &[usize],
    tags: &crate::scenario::TagFilter,
) -> Vec<(DispatchType, crate::scenario::plan::UserPlan)> {
    let mut out = Vec::new();
    for &i in types {
        let u = &scenario.user_types[i];
        if u.weight <= 0.0 && u.fixed_count == 0 {
            continue;
        }
        let plan = crate::scenario::plan::build(scenario, i, tags);
        if plan.tasks.is_empty() {
            tracing::warn!(
                target: "locusta.main",
                "{} had no tasks left after filtering, it will not be spawned",
                u.name
            );
            continue;
        }
        let t = DispatchType {
            index: i,
            name: u.name.clone(),
            weight: u.weight,
            fixed_count: u.fixed_count,
        };
        out.push((t, plan));
    }
    out
}

/// Hands out user types for successive spawns. Its state carries across ramps in one run, as
/// Locust's does.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// (type index, name, fixed count), sorted by name.
    fixed: Vec<(usize, String, u64)>,
    weighted: KlGenerator,
}

/// A user type as the dispatcher sees it.
#[derive(Debug, Clone)]
pub struct DispatchType {
    pub index: usize,
    pub name: String,
    pub weight: f64,
    pub fixed_count: u64,
}

impl Dispatcher {
    pub fn new(types: &[DispatchType]) -> Self {
        let mut sorted: Vec<&DispatchType> = types.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let fixed = sorted
            .iter()
            .filter(|t| t.fixed_count > 0)
            .map(|t| (t.index, t.name.clone(), t.fixed_count))
            .collect();
        let weighted: Vec<(usize, &str, f64)> = sorted
            .iter()
            .filter(|t| t.fixed_count == 0)
            .map(|t| (t.index, t.name.as_str(), t.weight))
            .collect();
        Dispatcher {
            fixed,
            weighted: KlGenerator::new(&weighted),
        }
    }

    /// The type of the next user, given how many of each type run now (indexed by type index).
    /// `None` when only fixed-count types exist and all are full.
    pub fn next(&mut self, running: &[u64]) -> Option<usize> {
        let missing: Vec<(usize, &str, f64)> = self
            .fixed
            .iter()
            .filter_map(|(i, name, count)| {
                let have = running.get(*i).copied().unwrap_or(0);
                (have < *count).then(|| (*i, name.as_str(), (*count - have) as f64))
            })
            .collect();
        if !missing.is_empty() {
            // Locust yields the missing fixed users from a fresh generator over the shortfalls,
            // and takes its first pick.
            return KlGenerator::new(&missing).next();
        }
        self.weighted.next()
    }

    /// Total users the fixed-count types ask for.
    pub fn fixed_total(&self) -> u64 {
        self.fixed.iter().map(|(_, _, c)| c).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(spec: &[(&str, f64, u64)]) -> Vec<DispatchType> {
        spec.iter()
            .enumerate()
            .map(|(index, (name, weight, fixed_count))| DispatchType {
                index,
                name: name.to_string(),
                weight: *weight,
                fixed_count: *fixed_count,
            })
            .collect()
    }

    fn sequence(spec: &[(&str, f64, u64)], n: usize) -> String {
        let t = types(spec);
        let mut d = Dispatcher::new(&t);
        let mut running = vec![0u64; t.len()];
        let mut out = String::new();
        for _ in 0..n {
            let Some(i) = d.next(&running) else { break };
            running[i] += 1;
            out.push_str(&t[i].name);
        }
        out
    }

    fn split(spec: &[(&str, f64, u64)], n: usize) -> Vec<u64> {
        let t = types(spec);
        let mut d = Dispatcher::new(&t);
        let mut running = vec![0u64; t.len()];
        for _ in 0..n {
            if let Some(i) = d.next(&running) {
                running[i] += 1;
            }
        }
        running
    }

    /// Sequences observed from Locust 2.47's dispatcher (locust-spec.md §6.5).
    #[test]
    fn matches_locusts_sequences() {
        assert_eq!(
            sequence(&[("A", 5.0, 0), ("B", 1.0, 0)], 16),
            "AABAAAAABAAAAABA"
        );
        assert_eq!(sequence(&[("A", 3.0, 0), ("B", 1.0, 0)], 10), "ABAAABAAAB");
        assert_eq!(
            sequence(&[("A", 1.0, 0), ("B", 1.0, 0), ("C", 1.0, 0)], 6),
            "ABCABC"
        );
        assert_eq!(
            sequence(&[("A", 2.0, 0), ("B", 1.0, 0), ("C", 1.0, 0)], 8),
            "ABCAABCA"
        );
        // Defined in the other order: sorting by name must not care.
        assert_eq!(
            sequence(&[("Web", 3.0, 0), ("Api", 1.0, 0)], 8),
            "WebApiWebWebWebApiWebWeb"
        );
    }

    #[test]
    fn splits_match_locust() {
        assert_eq!(
            split(&[("ApiUser", 1.0, 0), ("WebUser", 3.0, 0)], 8),
            [2, 6]
        );
        assert_eq!(
            split(&[("ApiUser", 1.0, 0), ("WebUser", 3.0, 0)], 10),
            [3, 7]
        );
        assert_eq!(
            split(&[("A", 2.0, 0), ("B", 1.0, 0), ("C", 1.0, 0)], 7),
            [3, 2, 2]
        );
        assert_eq!(split(&[("A", 0.3, 0), ("B", 0.7, 0)], 10), [3, 7]);
    }

    #[test]
    fn fixed_counts_come_first() {
        // Locust: A5, B1 + C(fixed 2), 10 users at rate 3 → {A1,B0,C2}, {A3,B1,C2}, {A6,B1,C2}, {A7,B1,C2}.
        let spec = [("A", 5.0, 0), ("B", 1.0, 0), ("C", 0.0, 2)];
        assert_eq!(split(&spec, 3), [1, 0, 2]);
        assert_eq!(split(&spec, 6), [3, 1, 2]);
        assert_eq!(split(&spec, 9), [6, 1, 2]);
        assert_eq!(split(&spec, 10), [7, 1, 2]);
        // Only fixed types: stops when they are full.
        assert_eq!(split(&[("C", 1.0, 2)], 5), [2]);
    }
}
