//! Which parts of a scenario take part in a run: the user types named on the command line, the
//! tasks left by `-T/--tags` and `-E/--exclude-tags`, and the resulting task ratios.

use super::{Scenario, TaskAction};

/// Locust's tag rules: with include tags a task needs one of them (untagged tasks drop out);
/// with exclude tags a task with any of them drops out. An empty list filters nothing.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl TagFilter {
    pub fn keeps(&self, tags: &[String]) -> bool {
        (self.include.is_empty() || tags.iter().any(|t| self.include.contains(t)))
            && !tags.iter().any(|t| self.exclude.contains(t))
    }
}

/// The user types a run uses: the ones named (in the order named), or every type not marked
/// `only_when_named`. Unknown names are an error listing them, as Locust's `Unknown User(s)`.
pub fn user_types(scenario: &Scenario, named: &[String]) -> Result<Vec<usize>, String> {
    if named.is_empty() {
        let all: Vec<usize> = (0..scenario.user_types.len())
            .filter(|&i| !scenario.user_types[i].only_when_named)
            .collect();
        if all.is_empty() {
            return Err("No user type runs by default (all are `only_when_named`); name one on the command line.".into());
        }
        return Ok(all);
    }
    let unknown: Vec<&str> = named
        .iter()
        .filter(|n| scenario.user_type(n).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = scenario
            .user_types
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        return Err(format!(
            "Unknown User(s): {} (the scenario has: {})",
            unknown.join(", "),
            known.join(", ")
        ));
    }
    let mut out: Vec<usize> = Vec::new();
    for n in named {
        let i = scenario.user_type(n).expect("checked above");
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// One line of a task-ratio table: a user type or a task, with the tasks below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub name: String,
    pub ratio: f64,
    pub children: Vec<Ratio>,
}

/// Locust's `_calc_distribution`: users per type by rounding shares (not the dispatcher's
/// exact order), which is what `--show-task-ratio` reports.
fn estimated_counts(scenario: &Scenario, types: &[usize], users: Option<u64>) -> Vec<f64> {
    let fixed: u64 = types
        .iter()
        .map(|&i| scenario.user_types[i].fixed_count)
        .sum();
    let total_weight: f64 = types
        .iter()
        .filter(|&&i| scenario.user_types[i].fixed_count == 0)
        .map(|&i| scenario.user_types[i].weight)
        .sum();
    let users = users.map_or(if fixed == 0 { total_weight } else { 1.0 }, |u| u as f64);
    let weighted = (users - fixed as f64).max(0.0);
    types
        .iter()
        .map(|&i| {
            let u = &scenario.user_types[i];
            if u.fixed_count > 0 {
                u.fixed_count as f64
            } else if total_weight > 0.0 {
                (u.weight / total_weight * weighted).round_ties_even()
            } else {
                0.0
            }
        })
        .collect()
}

fn task_ratios(
    scenario: &Scenario,
    user: usize,
    inherited: &[String],
    filter: &TagFilter,
    scale: f64,
) -> Vec<Ratio> {
    let u = &scenario.user_types[user];
    // (label, weight, children) of the tasks that survive the filter.
    let mut kept: Vec<(String, f64, Vec<Ratio>)> = Vec::new();
    for task in &u.tasks {
        let tags: Vec<String> = inherited.iter().chain(&task.tags).cloned().collect();
        match task.action {
            TaskAction::Steps(_) if filter.keeps(&tags) => {
                kept.push((task.label.clone(), f64::from(task.weight), vec![]))
            }
            TaskAction::Steps(_) => {}
            TaskAction::UseTasksOf(other) => {
                let sub = task_ratios(scenario, other, &tags, filter, 1.0);
                if !sub.is_empty() {
                    kept.push((task.label.clone(), f64::from(task.weight), sub));
                }
            }
        }
    }
    let total: f64 = kept.iter().map(|(_, w, _)| w).sum();
    let mut out: Vec<Ratio> = Vec::new();
    for (name, weight, children) in kept {
        let ratio = if total > 0.0 {
            weight / total * scale
        } else {
            0.0
        };
        let children: Vec<Ratio> = children.into_iter().map(|c| scaled(c, ratio)).collect();
        // Tasks sharing a label are one row, as they are one key in Locust's output.
        match out.iter_mut().find(|r| r.name == name) {
            Some(r) => r.ratio += ratio,
            None => out.push(Ratio {
                name,
                ratio,
                children,
            }),
        }
    }
    out
}

fn scaled(mut r: Ratio, by: f64) -> Ratio {
    r.ratio *= by;
    r.children = r.children.into_iter().map(|c| scaled(c, by)).collect();
    r
}

/// Locust's `get_ratio`: each type's share of users, and each task's share of that type's
/// task runs (`total = false`) or of all task runs (`total = true`).
pub fn ratios(
    scenario: &Scenario,
    types: &[usize],
    users: Option<u64>,
    filter: &TagFilter,
    total: bool,
) -> Vec<Ratio> {
    let counts = estimated_counts(scenario, types, users);
    let sum: f64 = counts.iter().sum();
    let denominator = if sum > 0.0 { sum } else { 1.0 };
    types
        .iter()
        .zip(counts)
        .map(|(&i, count)| {
            let share = count / denominator;
            Ratio {
                name: scenario.user_types[i].name.clone(),
                ratio: share,
                children: task_ratios(scenario, i, &[], filter, if total { share } else { 1.0 }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const YAML: &str = "
users:
  WebUser:
    weight: 3
    tasks:
      - {get: /, name: index, weight: 5}
      - {get: /slow, name: slow, weight: 2}
      - {get: /fail, name: fail}
      - {get: /notfound, name: missing}
      - {get: /item, name: item, weight: 2}
      - {get: /, name: check}
      - {get: /boom, name: boom}
  ApiUser:
    tasks:
      - {post: /api, name: post}
      - {get: /refused, name: refused}
  Mixed:
    only_when_named: true
    tasks:
      - {use: WebUser}
";

    fn scenario() -> Scenario {
        crate::scenario::parse("t.yaml", YAML, Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn ratios_match_locusts_sample() {
        // The same structure as Locust's misc/show_task_ratio.txt sample.
        let s = scenario();
        let types = user_types(&s, &[]).unwrap();
        assert_eq!(types, [0, 1]);
        let per_class = ratios(&s, &types, None, &TagFilter::default(), false);
        assert_eq!(per_class[0].ratio, 0.75);
        assert!((per_class[0].children[0].ratio - 5.0 / 13.0).abs() < 1e-12);
        let total = ratios(&s, &types, None, &TagFilter::default(), true);
        assert!((total[0].children[0].ratio - 0.75 * 5.0 / 13.0).abs() < 1e-12);
        assert_eq!(total[1].children[0].ratio, 0.125);
    }

    #[test]
    fn named_types_and_unknown_names() {
        let s = scenario();
        assert_eq!(user_types(&s, &["Mixed".into()]).unwrap(), [2]);
        let e = user_types(&s, &["Nope".into(), "Mixed".into(), "Also".into()]).unwrap_err();
        assert!(e.starts_with("Unknown User(s): Nope, Also"), "{e}");
        let mixed = ratios(&s, &[2], None, &TagFilter::default(), false);
        assert_eq!(mixed[0].children[0].name, "WebUser");
        assert_eq!(mixed[0].children[0].children.len(), 7);
    }
}
