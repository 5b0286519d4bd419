//! What `--list`, `--show-task-ratio` and `--show-task-ratio-json` print, in Locust's layout.

use std::fmt::Write;

use crate::scenario::Scenario;
use crate::scenario::plan::Ratio;

/// `-l/--list`: the user types in file order.
pub fn user_list(scenario: &Scenario) -> String {
    let mut out = String::from("Available Users:\n");
    for u in &scenario.user_types {
        let _ = writeln!(out, "    {}", u.name);
    }
    out
}

fn ratio_rows(out: &mut String, rows: &[Ratio], depth: usize) {
    let pad = "  ".repeat(depth);
    for r in rows {
        let pct = format!("{pad}{:<6.1}", r.ratio * 100.0);
        let _ = writeln!(out, " {pct:<10} {:<50}", format!("{pad}{}", r.name));
        ratio_rows(out, &r.children, depth + 1);
    }
}

/// `--show-task-ratio`: per user type, then of all task runs.
pub fn ratio_tables(per_class: &[Ratio], total: &[Ratio]) -> String {
    let mut out = String::from("\n Task ratio per User class\n");
    out.push_str(&"-".repeat(80));
    out.push('\n');
    ratio_rows(&mut out, per_class, 0);
    out.push_str("\n Total task ratio\n");
    out.push_str(&"-".repeat(80));
    out.push('\n');
    ratio_rows(&mut out, total, 0);
    out.push('\n');
    out
}

pub fn ratio_json(rows: &[Ratio]) -> serde_json::Value {
    let map = rows
        .iter()
        .map(|r| {
            let mut entry = serde_json::Map::new();
            entry.insert("ratio".into(), r.ratio.into());
            if !r.children.is_empty() {
                entry.insert("tasks".into(), ratio_json(&r.children));
            }
            (r.name.clone(), serde_json::Value::Object(entry))
        })
        .collect();
    serde_json::Value::Object(map)
}

/// `--show-task-ratio-json`: Locust's structure, indented by four spaces as `json.dumps` does.
pub fn ratio_json_text(per_class: &[Ratio], total: &[Ratio]) -> String {
    let value = serde_json::json!({"per_class": ratio_json(per_class), "total": ratio_json(total)});
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    let _ = serde::Serialize::serialize(&value, &mut ser);
    String::from_utf8(buf).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Ratio> {
        let task = |name: &str, ratio| Ratio {
            name: name.into(),
            ratio,
            children: vec![],
        };
        vec![
            Ratio {
                name: "WebUser".into(),
                ratio: 0.75,
                children: vec![task("index", 5.0 / 13.0), task("fail", 1.0 / 13.0)],
            },
            Ratio {
                name: "ApiUser".into(),
                ratio: 0.25,
                children: vec![task("post", 0.5)],
            },
        ]
    }

    #[test]
    fn table_layout_matches_locust() {
        let text = ratio_tables(&sample(), &sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(lines[1], " Task ratio per User class");
        assert_eq!(
            lines[3],
            " 75.0       WebUser                                           "
        );
        assert_eq!(
            lines[4],
            "   38.5       index                                           "
        );
        assert_eq!(
            lines[5],
            "   7.7        fail                                            "
        );
    }

    #[test]
    fn json_keeps_order_and_pythons_indent() {
        let text = ratio_json_text(&sample(), &sample());
        assert!(
            text.starts_with(
                "{\n    \"per_class\": {\n        \"WebUser\": {\n            \"ratio\": 0.75,\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\"index\": {\n                    \"ratio\": 0.38461538461538464\n"),
            "{text}"
        );
    }
}
