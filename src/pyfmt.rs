//! Python's formatting rules, reproduced so what we write is byte-identical to Locust's: the
//! numbers in its files and the `repr()` of the errors it records.
//!
//! Locust writes every number through Python's `str()`/`repr()` and `%` formatting. Rust's `{}`
//! and `{:?}` differ in exactly the places a CSV consumer notices (`1234` vs `1234.0`, `1e-5` vs
//! `1e-05`), so each rule Locust relies on is spelled out here once.

use chrono::{DateTime, Utc};

/// Python `repr(float)`: the shortest digits that round-trip, positional for exponents in
/// [-4, 16), scientific (`1e-05`, `1.5e+16`) outside it, always with a `.` in positional form.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // `{:e}` yields the shortest round-trip digits as `d.ddde<exp>`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    }
    out
}

/// Python `%d` applied to a float: truncation toward zero.
pub fn trunc(x: f64) -> i64 {
    x.trunc() as i64
}

/// Python's `str()` of a number that Locust keeps as an int when it is integral and a float
/// otherwise (for example `--html` placeholders: `2` but `0.5`).
pub fn int_or_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        float(x)
    }
}

/// Python `repr(str)`: how an exception shows its message (`HTTPError('...')`), and what
/// Locust's failure sort key hashes.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (c as u32) >= 0x80 && !is_printable(c) => {
                let v = c as u32;
                if v <= 0xff {
                    out.push_str(&format!("\\x{v:02x}"));
                } else if v <= 0xffff {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximates Python's `str.isprintable()` for non-ASCII characters: control and format
/// characters, separators other than the ASCII space, and unassigned surrogates are not printable.
fn is_printable(c: char) -> bool {
    let v = c as u32;
    !(c.is_control()
        || (0x80..=0xa0).contains(&v)
        || v == 0xad
        || (0x2000..=0x200f).contains(&v)
        || (0x2028..=0x202f).contains(&v)
        || (0x205f..=0x206f).contains(&v)
        || v == 0x3000
        || v == 0xfeff
        || (0xfff9..=0xfffb).contains(&v))
}

/// Python's `repr()` of an exception with a single message: `RemoteDisconnected('text')`.
pub fn exception(class: &str, message: &str) -> String {
    format!("{class}({})", str_repr(message))
}

/// Locust's `format_utc_timestamp`: whole seconds, UTC, `%Y-%m-%dT%H:%M:%SZ`.
pub fn utc_timestamp(epoch_seconds: f64) -> String {
    DateTime::<Utc>::from_timestamp(epoch_seconds.trunc() as i64, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Locust's `format_duration`: "1 hour, 2 minutes and 3 seconds", "0 seconds".
pub fn duration_words(total_seconds: u64) -> String {
    let parts = [
        (total_seconds / 86_400, "day"),
        (total_seconds / 3600 % 24, "hour"),
        (total_seconds / 60 % 60, "minute"),
        (total_seconds % 60, "second"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    match words.len() {
        0 => "0 seconds".to_string(),
        1 => words[0].clone(),
        n => format!("{} and {}", words[..n - 1].join(", "), words[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_matches_python_repr() {
        let cases = [
            (1234.0, "1234.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (3.762379812500224, "3.762379812500224"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e16, "1.5e+16"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (596.78, "596.78"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123456.7, "123456.7"),
            (1.2345e-7, "1.2345e-07"),
            (f64::INFINITY, "inf"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "repr({x})");
        }
    }

    #[test]
    fn str_repr_matches_python() {
        assert_eq!(
            str_repr("HTTPError('500 Server Error: Internal Server Error for url: /fail')"),
            "\"HTTPError('500 Server Error: Internal Server Error for url: /fail')\""
        );
        assert_eq!(str_repr("plain"), "'plain'");
        assert_eq!(str_repr("both ' and \""), "'both \\' and \"'");
        assert_eq!(str_repr("tab\tnl\n\x01"), "'tab\\tnl\\n\\x01'");
        assert_eq!(str_repr("café"), "'café'");
    }

    #[test]
    fn durations_and_timestamps() {
        assert_eq!(duration_words(0), "0 seconds");
        assert_eq!(duration_words(11), "11 seconds");
        assert_eq!(duration_words(65), "1 minute and 5 seconds");
        assert_eq!(duration_words(3723), "1 hour, 2 minutes and 3 seconds");
        assert_eq!(utc_timestamp(1795374119.9), "2026-11-22T19:01:59Z");
        assert_eq!(int_or_float(2.0), "2");
        assert_eq!(int_or_float(0.5), "0.5");
    }
}
