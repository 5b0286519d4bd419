//! A run's plan: a user type's steps with `-T/--tags` and `-E/--exclude-tags` applied and `use`
//! inlined, ready to be walked. The engine runs it; `--show-task-ratio` reads its weights; so
//! the tag rules live in one place.
//!
//! Tags work as in Locust: a step runs when the tags of the tasks and `one_of` alternatives it
//! is nested in pass the filter (tags on a `use` task tag every task it reaches), and a choice
//! whose alternatives all drop out drops out itself. `on_start` and `on_stop` are not tasks and
//! are never filtered.

use std::sync::Arc;

use rand::{RngExt, rngs::SmallRng};

use super::{Choice, RequestSpec, Scenario, Step, TagFilter, WaitTime};

#[derive(Debug)]
pub enum Node {
    Request(Arc<RequestSpec>),
    Ws(Arc<crate::scenario::stream::WsSpec>),
    Sse(Arc<crate::scenario::stream::SseSpec>),
    Wait(WaitTime),
    Flow(Vec<Node>),
    Choice(Choices),
    Repeat { min: u32, max: u32, node: Box<Node> },
}

#[derive(Debug)]
pub struct Entry {
    /// Running total of weights up to and including this entry.
    cumulative: u64,
    pub weight: u32,
    pub label: String,
    pub node: Node,
}

/// Weighted alternatives: a pick is one random number and a binary search.
#[derive(Debug, Default)]
pub struct Choices {
    entries: Vec<Entry>,
}

impl Choices {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn pick(&self, rng: &mut SmallRng) -> Option<&Node> {
        let total = self.entries.last()?.cumulative;
        let r = rng.random_range(0..total);
        let i = self.entries.partition_point(|e| e.cumulative <= r);
        Some(&self.entries[i].node)
    }
}

/// What one user type runs.
#[derive(Debug, Default)]
pub struct UserPlan {
    pub on_start: Vec<Node>,
    pub tasks: Choices,
    pub on_stop: Vec<Node>,
}

impl UserPlan {
    /// Every request, WebSocket and SSE step reachable from this plan (one used in several
    /// places, each time).
    pub fn leaves(&self) -> Vec<&Node> {
        fn visit<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
            match node {
                Node::Request(_) | Node::Ws(_) | Node::Sse(_) => out.push(node),
                Node::Wait(_) => {}
                Node::Flow(nodes) => nodes.iter().for_each(|n| visit(n, out)),
                Node::Choice(c) => c.entries.iter().for_each(|e| visit(&e.node, out)),
                Node::Repeat { node, .. } => visit(node, out),
            }
        }
        let mut out = Vec::new();
        for node in self.on_start.iter().chain(&self.on_stop) {
            visit(node, &mut out);
        }
        for e in &self.tasks.entries {
            visit(&e.node, &mut out);
        }
        out
    }

    /// Every request reachable from this plan (one used in several places, each time).
    pub fn requests(&self) -> Vec<&Arc<RequestSpec>> {
        self.leaves()
            .into_iter()
            .filter_map(|n| match n {
                Node::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Whether any step reachable from this plan has a relative path (and so needs a host).
    pub fn needs_host(&self) -> bool {
        self.leaves().iter().any(|n| match n {
            Node::Request(r) => !r.absolute,
            Node::Ws(w) => !w.target.absolute,
            Node::Sse(e) => !e.target.absolute,
            _ => false,
        })
    }
}

struct Builder<'a> {
    scenario: &'a Scenario,
    filter: &'a TagFilter,
}

impl Builder<'_> {
    fn step(&self, step: &Step, tags: &[String]) -> Option<Node> {
        match step {
            Step::Request(r) => self.filter.keeps(tags).then(|| Node::Request(r.clone())),
            Step::Ws(w) => self.filter.keeps(tags).then(|| Node::Ws(w.clone())),
            Step::Sse(e) => self.filter.keeps(tags).then(|| Node::Sse(e.clone())),
            Step::Wait(w) => Some(Node::Wait(*w)),
            Step::Flow(steps) => {
                let nodes: Vec<Node> = steps.iter().filter_map(|s| self.step(s, tags)).collect();
                nodes
                    .iter()
                    .any(|n| !matches!(n, Node::Wait(_)))
                    .then_some(Node::Flow(nodes))
            }
            Step::OneOf(choices) => {
                let c = self.choices(choices, tags);
                (!c.is_empty()).then_some(Node::Choice(c))
            }
            Step::Repeat { min, max, step } => self.step(step, tags).map(|n| Node::Repeat {
                min: *min,
                max: *max,
                node: Box::new(n),
            }),
            Step::Use(other) => {
                let c = self.choices(&self.scenario.user_types[*other].tasks, tags);
                (!c.is_empty()).then_some(Node::Choice(c))
            }
        }
    }

    fn choices(&self, choices: &[Choice], inherited: &[String]) -> Choices {
        let mut entries = Vec::new();
        let mut cumulative = 0u64;
        for c in choices {
            if c.weight == 0 {
                continue;
            }
            let tags: Vec<String> = inherited.iter().chain(&c.tags).cloned().collect();
            // A wait standing alone as an alternative is filtered like a request would be.
            let Some(node) = self
                .step(&c.step, &tags)
                .filter(|n| !matches!(n, Node::Wait(_)) || self.filter.keeps(&tags))
            else {
                continue;
            };
            cumulative += u64::from(c.weight);
            entries.push(Entry {
                cumulative,
                weight: c.weight,
                label: c.label.clone(),
                node,
            });
        }
        Choices { entries }
    }
}

/// The plan of user type `user` under `filter`.
pub fn build(scenario: &Scenario, user: usize, filter: &TagFilter) -> UserPlan {
    let u = &scenario.user_types[user];
    let tasks = Builder { scenario, filter }.choices(&u.tasks, &[]);
    let unfiltered = Builder {
        scenario,
        filter: &TagFilter::default(),
    };
    let hooks = |steps: &[Step]| {
        steps
            .iter()
            .filter_map(|s| unfiltered.step(s, &[]))
            .collect()
    };
    UserPlan {
        on_start: hooks(&u.on_start),
        tasks,
        on_stop: hooks(&u.on_stop),
    }
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

/// How a step inside a flow is named in the ratio tables.
fn node_label(node: &Node) -> String {
    match node {
        Node::Request(r) => format!("{} {}", r.method, r.name),
        Node::Ws(w) => format!("WS {}", w.rows.name),
        Node::Sse(e) => format!("SSE {}", e.rows.name),
        Node::Wait(_) => "wait".to_string(),
        Node::Flow(_) => "flow".to_string(),
        Node::Choice(_) => "one_of".to_string(),
        Node::Repeat { node, .. } => format!("{} (repeated)", node_label(node)),
    }
}

/// What sits below a task in the ratio tables: a choice's alternatives by weight, or, as Locust
/// shows a SequentialTaskSet's tasks, a flow's steps in equal shares.
fn children(node: &Node, ratio: f64) -> Vec<Ratio> {
    match node {
        Node::Choice(nested) => choice_ratios(nested, ratio),
        Node::Flow(steps) => {
            let steps: Vec<&Node> = steps
                .iter()
                .filter(|n| !matches!(n, Node::Wait(_)))
                .collect();
            let share = ratio / steps.len().max(1) as f64;
            steps
                .iter()
                .map(|n| Ratio {
                    name: node_label(n),
                    ratio: share,
                    children: children(n, share),
                })
                .collect()
        }
        Node::Repeat { node, .. } => children(node, ratio),
        Node::Request(_) | Node::Ws(_) | Node::Sse(_) | Node::Wait(_) => Vec::new(),
    }
}

fn choice_ratios(choices: &Choices, scale: f64) -> Vec<Ratio> {
    let total: f64 = choices.entries.iter().map(|e| f64::from(e.weight)).sum();
    let mut out: Vec<Ratio> = Vec::new();
    for e in &choices.entries {
        let ratio = f64::from(e.weight) / total * scale;
        let children = children(&e.node, ratio);
        // Tasks sharing a label are one row, as they are one key in Locust's output.
        match out.iter_mut().find(|r| r.name == e.label) {
            Some(r) => r.ratio += ratio,
            None => out.push(Ratio {
                name: e.label.clone(),
                ratio,
                children,
            }),
        }
    }
    out
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
    ratios_of(
        scenario,
        types,
        estimated_counts(scenario, types, users),
        filter,
        total,
    )
}

/// [`ratios`] for the users running now (per type, in `types`' order), as the web UI's
/// Current Ratio tab shows them.
pub fn ratios_of(
    scenario: &Scenario,
    types: &[usize],
    counts: Vec<f64>,
    filter: &TagFilter,
    total: bool,
) -> Vec<Ratio> {
    let sum: f64 = counts.iter().sum();
    let denominator = if sum > 0.0 { sum } else { 1.0 };
    types
        .iter()
        .zip(counts)
        .map(|(&i, count)| {
            let share = count / denominator;
            let plan = build(scenario, i, filter);
            Ratio {
                name: scenario.user_types[i].name.clone(),
                ratio: share,
                children: choice_ratios(&plan.tasks, if total { share } else { 1.0 }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::select::user_types;
    use rand::SeedableRng;
    use std::path::Path;

    fn scenario(yaml: &str) -> Scenario {
        crate::scenario::parse("t.yaml", yaml, Path::new("t.yaml"), &|_| None).unwrap()
    }

    fn filter(include: &[&str], exclude: &[&str]) -> TagFilter {
        TagFilter {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The request names a plan can reach.
    fn reachable(node: &Node, out: &mut Vec<String>) {
        match node {
            Node::Request(r) => out.push(r.name.clone()),
            Node::Ws(w) => out.push(w.rows.name.clone()),
            Node::Sse(e) => out.push(e.rows.name.clone()),
            Node::Wait(_) => {}
            Node::Flow(nodes) => nodes.iter().for_each(|n| reachable(n, out)),
            Node::Choice(c) => c.entries().iter().for_each(|e| reachable(&e.node, out)),
            Node::Repeat { node, .. } => reachable(node, out),
        }
    }

    fn names(s: &Scenario, user: usize, f: &TagFilter) -> Vec<String> {
        let plan = build(s, user, f);
        let mut out = Vec::new();
        plan.tasks
            .entries()
            .iter()
            .for_each(|e| reachable(&e.node, &mut out));
        out.sort();
        out
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
      - name: journey
        tags: [slow]
        flow:
          - get: /j1
          - one_of:
              - {get: /j2, tags: [x]}
              - {get: /j3}
";

    #[test]
    fn picks_follow_weights_through_use() {
        let s = scenario(YAML);
        let plan = build(&s, 1, &TagFilter::default());
        let mut rng = SmallRng::seed_from_u64(5);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..30_000 {
            let mut leaf = plan.tasks.pick(&mut rng).unwrap();
            while let Node::Choice(c) = leaf {
                leaf = c.pick(&mut rng).unwrap();
            }
            let label = match leaf {
                Node::Request(r) => r.name.clone(),
                _ => "journey".to_string(),
            };
            *counts.entry(label).or_insert(0u32) += 1;
        }
        let share = |k: &str| counts.get(k).copied().unwrap_or(0) as f64 / 30_000.0;
        // A third each for /m, the journey and A's tasks (which split 3:1); /never never.
        assert!((share("/m") - 1.0 / 3.0).abs() < 0.02);
        assert!((share("journey") - 1.0 / 3.0).abs() < 0.02);
        assert!((share("/a1") - 0.25).abs() < 0.02);
        assert!((share("/a2") - 1.0 / 12.0).abs() < 0.02);
        assert_eq!(share("/never"), 0.0);
    }

    #[test]
    fn tags_filter_like_locust() {
        let s = scenario(YAML);
        assert_eq!(names(&s, 0, &filter(&["list"], &[])), ["/a1"]);
        assert_eq!(names(&s, 0, &filter(&[], &["list"])), ["/a2"]);
        // Tagging the `use` task tags every task it reaches.
        assert_eq!(names(&s, 1, &filter(&["mixed"], &[])), ["/a1", "/a2"]);
        assert_eq!(names(&s, 1, &filter(&[], &["mixed", "slow"])), ["/m"]);
        // Inside a tagged flow, an alternative's own tag narrows further.
        assert_eq!(names(&s, 1, &filter(&["x"], &[])), ["/j2"]);
        assert_eq!(names(&s, 1, &filter(&["slow"], &["x"])), ["/j1", "/j3"]);
        assert!(names(&s, 1, &filter(&["nothing"], &[])).is_empty());
    }

    const RATIO_YAML: &str = "
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

    #[test]
    fn ratios_match_locusts_sample() {
        // The same structure as Locust's misc/show_task_ratio.txt sample.
        let s = scenario(RATIO_YAML);
        let types = user_types(&s, &[]).unwrap();
        assert_eq!(types, [0, 1]);
        let per_class = ratios(&s, &types, None, &TagFilter::default(), false);
        assert_eq!(per_class[0].ratio, 0.75);
        assert!((per_class[0].children[0].ratio - 5.0 / 13.0).abs() < 1e-12);
        let total = ratios(&s, &types, None, &TagFilter::default(), true);
        assert!((total[0].children[0].ratio - 0.75 * 5.0 / 13.0).abs() < 1e-12);
        assert_eq!(total[1].children[0].ratio, 0.125);
        let mixed = ratios(&s, &[2], None, &TagFilter::default(), false);
        assert_eq!(mixed[0].children[0].name, "WebUser");
        assert_eq!(mixed[0].children[0].children.len(), 7);
    }

    #[test]
    fn a_flows_steps_share_its_ratio() {
        let s = scenario(YAML);
        let mixed = ratios(&s, &[1], None, &TagFilter::default(), false);
        let journey = mixed[0]
            .children
            .iter()
            .find(|r| r.name == "journey")
            .unwrap();
        let names: Vec<&str> = journey.children.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GET /j1", "one_of"]);
        assert!(
            journey
                .children
                .iter()
                .all(|c| (c.ratio - journey.ratio / 2.0).abs() < 1e-12)
        );
        let alternatives = &journey.children[1].children;
        assert_eq!(alternatives.len(), 2);
        assert!((alternatives[0].ratio - journey.ratio / 4.0).abs() < 1e-12);
    }
}
