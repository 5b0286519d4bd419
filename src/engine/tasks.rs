//! The weighted task choice of each user type, after `-T/--tags` and `-E/--exclude-tags`.

use rand::{RngExt, rngs::SmallRng};

use crate::scenario::{Scenario, TagFilter, TaskAction};

/// What a pick lands on.
#[derive(Debug, Clone)]
pub enum TaskNode {
    /// `scenario.user_types[user].tasks[task]`, whose action is a list of steps.
    Steps { user: usize, task: usize },
    /// The tasks of another user type, reached through `use`.
    Table(Box<TaskTable>),
}

#[derive(Debug, Clone, Default)]
pub struct TaskTable {
    /// (cumulative weight, node): a pick is one random number and a binary search.
    entries: Vec<(u64, TaskNode)>,
}

impl TaskTable {
    /// The table of `user`, where tasks inherit `inherited` tags (Locust: tagging a TaskSet
    /// tags every task in it).
    pub fn build(
        scenario: &Scenario,
        user: usize,
        inherited: &[String],
        filter: &TagFilter,
    ) -> TaskTable {
        let mut entries = Vec::new();
        let mut total = 0u64;
        for (index, task) in scenario.user_types[user].tasks.iter().enumerate() {
            if task.weight == 0 {
                continue;
            }
            let tags: Vec<String> = inherited.iter().chain(&task.tags).cloned().collect();
            let node = match task.action {
                TaskAction::Steps(_) if filter.keeps(&tags) => {
                    TaskNode::Steps { user, task: index }
                }
                TaskAction::Steps(_) => continue,
                TaskAction::UseTasksOf(other) => {
                    let sub = TaskTable::build(scenario, other, &tags, filter);
                    if sub.is_empty() {
                        continue;
                    }
                    TaskNode::Table(Box::new(sub))
                }
            };
            total += u64::from(task.weight);
            entries.push((total, node));
        }
        TaskTable { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A task with probability proportional to its weight, descending through `use` tables.
    pub fn pick(&self, rng: &mut SmallRng) -> Option<(usize, usize)> {
        let mut table = self;
        loop {
            let total = table.entries.last()?.0;
            let r = rng.random_range(0..total);
            let i = table.entries.partition_point(|(cum, _)| *cum <= r);
            match &table.entries[i].1 {
                TaskNode::Steps { user, task } => return Some((*user, *task)),
                TaskNode::Table(sub) => table = sub,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::path::Path;

    fn scenario(yaml: &str) -> Scenario {
        crate::scenario::parse("t.yaml", yaml, Path::new("t.yaml")).unwrap()
    }

    const YAML: &str = "
users:
  A:
    tasks:
      - {get: /a1, weight: 3, tags: [list]}
      - {get: /a2, weight: 1}
      - {get: /never, weight: 0}
  Mixed:
    tasks:
      - {use: A, weight: 1, tags: [mixed]}
      - {get: /m, weight: 1}
";

    #[test]
    fn picks_follow_weights_through_use() {
        let s = scenario(YAML);
        let table = TaskTable::build(&s, 1, &[], &TagFilter::default());
        let mut rng = SmallRng::seed_from_u64(5);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..40_000 {
            *counts.entry(table.pick(&mut rng).unwrap()).or_insert(0u32) += 1;
        }
        // Mixed: half /m; the other half split 3:1 over A's tasks; /never never.
        let share = |k| counts.get(&k).copied().unwrap_or(0) as f64 / 40_000.0;
        assert!((share((1, 1)) - 0.5).abs() < 0.02);
        assert!((share((0, 0)) - 0.375).abs() < 0.02);
        assert!((share((0, 1)) - 0.125).abs() < 0.02);
        assert_eq!(share((0, 2)), 0.0);
    }

    #[test]
    fn tags_filter_like_locust() {
        let s = scenario(YAML);
        let only = |include: &[&str], exclude: &[&str], user| {
            let f = TagFilter {
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
            };
            let table = TaskTable::build(&s, user, &[], &f);
            let mut rng = SmallRng::seed_from_u64(1);
            let mut seen: Vec<(usize, usize)> =
                (0..200).filter_map(|_| table.pick(&mut rng)).collect();
            seen.sort();
            seen.dedup();
            seen
        };
        assert_eq!(only(&["list"], &[], 0), [(0, 0)]);
        assert_eq!(only(&[], &["list"], 0), [(0, 1)]);
        // Tagging the `use` task tags every task it reaches.
        assert_eq!(only(&["mixed"], &[], 1), [(0, 0), (0, 1)]);
        assert_eq!(only(&[], &["mixed"], 1), [(1, 1)]);
        assert_eq!(only(&["nothing"], &[], 1), []);
    }
}
