//! Option values with Locust's grammar and Locust's error messages (argparse's wording).

use std::sync::LazyLock;

use regex::Regex;

/// A TCP port, 1 to 65535.
pub fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid port: '{s}' (expected 1 to 65535)")),
    }
}

/// A port to listen on, or 0 for any free one (the log line says which).
pub fn port_or_any(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .map_err(|_| format!("invalid port: '{s}' (expected 0 to 65535)"))
}

/// Locust's `parse_timespan`: `300` (seconds) or `1h30m`, `20m`, `3h30m10s`: hours, minutes,
/// seconds in that order, whole numbers, no days, case-sensitive.
pub fn timespan(s: &str) -> Result<u64, String> {
    static SPAN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$").expect("valid regex"));
    let bad = || {
        "Invalid time span format. Valid formats: 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."
            .to_string()
    };
    let limit = |n: u64| -> Result<u64, String> {
        if n > crate::limits::MAX_SECONDS {
            Err(format!(
                "'{s}' is more than 10 years ({} seconds)",
                crate::limits::MAX_SECONDS
            ))
        } else {
            Ok(n)
        }
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        // Digits past u64 are still a number of seconds, just too many of them.
        return s.parse().map_or_else(|_| limit(u64::MAX), limit);
    }
    let caps = SPAN
        .captures(s)
        .filter(|c| c.iter().skip(1).any(|g| g.is_some()))
        .ok_or_else(bad)?;
    // Saturating: an hour count past u64 is as much "too long" as one just past the limit.
    let part = |i: usize, unit: u64| -> u64 {
        caps.get(i).map_or(0, |m| {
            m.as_str()
                .parse::<u64>()
                .unwrap_or(u64::MAX)
                .saturating_mul(unit)
        })
    };
    limit(
        part(1, 3600)
            .saturating_add(part(2, 60))
            .saturating_add(part(3, 1)),
    )
}

/// argparse's `int`.
pub fn int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("invalid int value: '{s}'"))
}

/// `-u/--users`, `-i/--iterations`: an int, and not a negative one.
pub fn count(s: &str) -> Result<u64, String> {
    let n = int(s)?;
    u64::try_from(n).map_err(|_| format!("must be 0 or more, got {n}"))
}

/// `-u/--users` and a stage's users: a count, at most [`crate::limits::MAX_USERS`].
pub fn users(s: &str) -> Result<u64, String> {
    let n = int(s).or_else(|e| {
        // A whole number too large for an int is still a count, just out of range.
        let digits = s.trim();
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(i64::MAX)
        } else {
            Err(e)
        }
    })?;
    let n = u64::try_from(n).map_err(|_| format!("must be 0 or more, got {n}"))?;
    crate::limits::users(n).map_err(|_| {
        format!(
            "must be at most {} users, got {}",
            crate::limits::MAX_USERS,
            s.trim()
        )
    })
}

/// `-r/--spawn-rate`: a finite float above 0, within [`crate::limits::spawn_rate`]'s range.
pub fn spawn_rate(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid float value: '{s}'"))?;
    crate::limits::spawn_rate(x)
}

/// A flag's value from an environment variable or a config file: Locust's accepted words.
pub fn flag(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "Unexpected value '{s}'. Expecting 'true', 'false', 'yes', 'no', 'on', 'off', '1' or '0'"
        )),
    }
}

/// `-L/--loglevel`: case-insensitive, stored upper-case.
pub fn loglevel(s: &str) -> Result<String, String> {
    let up = s.to_ascii_uppercase();
    match up.as_str() {
        "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL" => Ok(up),
        _ => Err(format!(
            "invalid choice: '{s}' (choose from 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')"
        )),
    }
}

/// `--stages`: a load shape in k6's `--stage` syntax, `DURATION:USERS` with an optional
/// `:SPAWN_RATE`, comma-separated: `2m:100,30s:500,1m:500,2m:100:50`. Durations use `-t`'s
/// grammar; without a rate, each change is spread evenly over its stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages(pub Vec<crate::scenario::Stage>);

pub fn stages(s: &str) -> Result<Stages, String> {
    let bad = |item: &str, why: &str| {
        format!("'{item}' is not DURATION:USERS[:SPAWN_RATE] ({why}); e.g. 2m:100,30s:500,1m:500")
    };
    let mut out = Vec::new();
    let mut previous = 0;
    for item in s.split(',').map(str::trim) {
        let parts: Vec<&str> = item.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad(item, "two or three parts"));
        }
        let seconds =
            timespan(parts[0]).map_err(|_| bad(item, "the duration is like 20s, 3m or 1h30m"))?;
        if seconds == 0 {
            return Err(bad(item, "a stage lasts more than 0 seconds"));
        }
        let users = users(parts[1]).map_err(|e| bad(item, &format!("users: {e}")))?;
        let duration = std::time::Duration::from_secs(seconds);
        let spawn_rate = match parts.get(2) {
            Some(r) => spawn_rate(r).map_err(|e| bad(item, &format!("the spawn rate {e}")))?,
            None => crate::scenario::Stage::even_rate(previous, users, duration),
        };
        out.push(crate::scenario::Stage {
            duration,
            users,
            spawn_rate,
            user_types: None,
        });
        previous = users;
    }
    Ok(Stages(out))
}

/// `--threshold`: `p95<500ms`, `error_rate<1%`, `rps>=100`, `p95<200ms for GET /api/`.
pub fn threshold(s: &str) -> Result<crate::gate::Threshold, String> {
    crate::gate::Threshold::parse(s, &crate::gate::Target::All)
}

/// locust-plugins' `--check-*`: a float, not negative.
pub fn non_negative_float(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) if x.is_nan() || x < 0.0 => Err("must be 0 or more".to_string()),
        Ok(_) => Err(format!("'{s}' is too large a number")),
        Err(_) => Err(format!("invalid float value: '{s}'")),
    }
}

/// `-H/--host`: a base URL we can send requests to.
pub fn host(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(s.to_string()),
        _ => Err(format!(
            "'{s}' is not a base URL; use the form https://www.example.com"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_follow_locusts_grammar() {
        for (s, want) in [
            ("20", 20),
            ("0", 0),
            ("20s", 20),
            ("3m", 180),
            ("2h", 7200),
            ("1h30m", 5400),
            ("2h3m4s", 7384),
            ("90m", 5400),
            ("1m90s", 150),
            ("3h30m10s", 12610),
        ] {
            assert_eq!(timespan(s), Ok(want), "{s}");
        }
        for bad in [
            "", "1.5m", "5x", "1h30", "1d", "30S", "-5", "m", "1s1m", "h", " 5",
        ] {
            assert!(timespan(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            timespan("5x").unwrap_err(),
            "Invalid time span format. Valid formats: 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."
        );
    }

    #[test]
    fn stages_read_like_k6() {
        let Stages(s) = stages("2m:100, 30s:500,1m:500,2m:100:50").unwrap();
        let summary: Vec<(u64, u64, f64)> = s
            .iter()
            .map(|s| (s.duration.as_secs(), s.users, s.spawn_rate))
            .collect();
        assert_eq!(
            summary,
            [
                (120, 100, 100.0 / 120.0),
                (30, 500, 400.0 / 30.0),
                (60, 500, 1.0 / 60.0),
                (120, 100, 50.0)
            ]
        );
        assert_eq!(
            stages("2m").unwrap_err(),
            "'2m' is not DURATION:USERS[:SPAWN_RATE] (two or three parts); e.g. 2m:100,30s:500,1m:500"
        );
        assert!(stages("2x:5").unwrap_err().contains("the duration is like"));
        assert!(stages("0:5").unwrap_err().contains("more than 0 seconds"));
        assert!(
            stages("1m:-5")
                .unwrap_err()
                .contains("users: must be 0 or more")
        );
        assert!(
            stages("1m:5:0")
                .unwrap_err()
                .contains("the spawn rate must be > 0")
        );
        assert_eq!(
            stages("1s:5:1e-300").unwrap_err(),
            "'1s:5:1e-300' is not DURATION:USERS[:SPAWN_RATE] (the spawn rate must be from 1e-6 to 1e7 users per second, got 1e-300); e.g. 2m:100,30s:500,1m:500"
        );
    }

    #[test]
    fn numbers_and_words() {
        assert_eq!(count("abc").unwrap_err(), "invalid int value: 'abc'");
        assert_eq!(count("7"), Ok(7));
        assert!(count("-1").is_err());
        assert_eq!(spawn_rate("0").unwrap_err(), "must be > 0");
        assert_eq!(spawn_rate("2.5"), Ok(2.5));
        assert!(spawn_rate("inf").is_err());
        assert!(spawn_rate("1e-300").is_err());
        assert_eq!(users("10000000"), Ok(10_000_000));
        assert_eq!(
            users("18446744073709551616").unwrap_err(),
            "must be at most 10000000 users, got 18446744073709551616"
        );
        assert_eq!(
            timespan("99999999999999999999").unwrap_err(),
            "'99999999999999999999' is more than 10 years (315360000 seconds)"
        );
        assert!(timespan("5124095576030431h1m").is_err());
        assert_eq!(timespan("87600h"), Ok(315_360_000));
        assert_eq!(flag("YES"), Ok(true));
        assert_eq!(flag("off"), Ok(false));
        assert!(flag("maybe").is_err());
        assert_eq!(loglevel("debug"), Ok("DEBUG".to_string()));
        assert!(host("localhost:8000").is_err());
        assert!(host("http://localhost:8000").is_ok());
    }
}
