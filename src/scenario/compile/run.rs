//! How the run is driven and judged: `stages:` (the load shape: durations, user counts, spawn
//! rates and the user types named) and `thresholds:` (the targets it must meet).

use std::time::Duration;

use super::super::Stage;
use indexmap::IndexMap;

use super::super::model::{StageDef, ThresholdDef};
use super::super::positions::YamlPath;
use super::{Compiler, did_you_mean};
use crate::gate::{Target, Threshold};

/// A stage this long would never end in a test anyone waits for; a typo (`2000m`) more likely.
const MAX_STAGE: Duration = Duration::from_secs(7 * 24 * 3600);

pub(super) fn stages(c: &mut Compiler<'_>, path: &YamlPath, defs: &[StageDef]) -> Vec<Stage> {
    let mut stages = Vec::with_capacity(defs.len());
    let mut previous_users = 0;
    for (i, def) in defs.iter().enumerate() {
        let at = path.index(i);
        let duration = def.duration.0;
        if duration.is_zero() || duration > MAX_STAGE {
            c.error(
                &at.key("duration"),
                "a stage lasts more than 0 seconds and at most a week",
            );
        }
        if let Err(e) = crate::limits::users(def.users) {
            c.error(&at.key("users"), format!("a stage's users {e}"));
        }
        let spawn_rate = match def.spawn_rate.map(crate::limits::spawn_rate) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                c.error(&at.key("spawn_rate"), format!("the spawn rate {e}"));
                1.0
            }
            None => Stage::even_rate(previous_users, def.users, duration),
        };
        let user_types = def.user_types.as_ref().map(|names| {
            if names.is_empty() {
                c.error(
                    &at.key("user_types"),
                    "name at least one user type, or leave `user_types` out for all",
                );
            }
            names
                .iter()
                .enumerate()
                .filter_map(|(j, name)| {
                    let found = c.user_names.iter().position(|n| n == name);
                    if found.is_none() {
                        let hint = did_you_mean(name, c.user_names.iter().map(String::as_str))
                            .map(|s| format!(", did you mean `{s}`?"))
                            .unwrap_or_default();
                        c.error(
                            &at.key("user_types").index(j),
                            format!("no user type is named `{name}`{hint}"),
                        );
                    }
                    found
                })
                .collect()
        });
        stages.push(Stage {
            duration,
            users: def.users,
            spawn_rate,
            user_types,
        });
        previous_users = def.users;
    }
    stages
}

/// When an aborting threshold starts being checked, unless it says.
const DEFAULT_ABORT_AFTER: Duration = Duration::from_secs(10);

pub(super) fn thresholds(
    c: &mut Compiler<'_>,
    path: &YamlPath,
    defs: &IndexMap<String, Vec<ThresholdDef>>,
    request_names: &[(String, String)],
) -> Vec<Threshold> {
    let mut out = Vec::new();
    for (key, list) in defs {
        let target = Target::parse(key);
        if let Err(e) = target.check(request_names) {
            c.error(&path.key(key), e);
            continue;
        }
        for (i, def) in list.iter().enumerate() {
            let at = path.key(key).index(i);
            let (text, abort_after) = match def {
                ThresholdDef::Expression(text) => (text, None),
                ThresholdDef::Detailed(d) => (
                    &d.check,
                    match (d.abort, d.abort_after) {
                        (_, Some(after)) => Some(after.0),
                        (true, None) => Some(DEFAULT_ABORT_AFTER),
                        (false, None) => None,
                    },
                ),
            };
            match Threshold::parse(text, &target)
                .and_then(|t| t.target.check(request_names).map(|()| t))
            {
                Ok(mut t) => {
                    t.abort_after = abort_after;
                    out.push(t);
                }
                Err(e) => c.error(&at, e),
            }
        }
    }
    out
}
