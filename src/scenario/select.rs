//! Which parts of a scenario take part in a run: the user types named on the command line, and
//! the tag filter of `-T/--tags` and `-E/--exclude-tags` (applied in `plan`).

use super::Scenario;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn named_types_and_unknown_names() {
        let yaml = "users:\n  A:\n    tasks: [{get: /}]\n  Mixed:\n    only_when_named: true\n    tasks: [{use: A}]\n";
        let s = crate::scenario::parse("t.yaml", yaml, Path::new("t.yaml"), &|_| None).unwrap();
        assert_eq!(user_types(&s, &[]).unwrap(), [0]);
        assert_eq!(user_types(&s, &["Mixed".into()]).unwrap(), [1]);
        let e = user_types(&s, &["Nope".into(), "Mixed".into(), "Also".into()]).unwrap_err();
        assert!(e.starts_with("Unknown User(s): Nope, Also"), "{e}");
        assert!(TagFilter::default().keeps(&[]));
        let f = TagFilter {
            include: vec!["a".into()],
            exclude: vec!["b".into()],
        };
        assert!(f.keeps(&["a".into()]) && !f.keeps(&[]) && !f.keeps(&["a".into(), "b".into()]));
    }
}
