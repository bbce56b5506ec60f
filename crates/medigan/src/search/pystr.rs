//! Python string forms of catalogue values (`str()` in the original medigan), used for whole-value comparison.

use std::borrow::Cow;

use serde_json::{Number, Value};

/// The text Python's `str()` gives for a value loaded by `json.load`.
///
/// Strings are returned as they are; `null` is "None", booleans are "True"/"False", integers are
/// written in decimal and floats as Python's `repr` writes them ([`python_float_repr`]: `224.0`
/// is "224.0", `1e16` is "1e+16"). Lists and objects are written as Python writes a `list` or
/// `dict` (`['a', 1]`, `{'k': None}`); strings inside them are quoted with Python's escapes for
/// quotes, backslashes and control characters (other non-printable characters are not escaped).
pub fn python_str(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(python_repr(other)),
    }
}

/// The text Python's `repr()` gives for a float: the shortest digits that read back as the same
/// number, in fixed notation when the decimal exponent is in `-4..16` (always with a fractional
/// part, `224.0`), otherwise in scientific notation with a signed exponent of at least two
/// digits (`1e+16`, `1.5e-07`). Non-finite values are `inf`, `-inf` and `nan`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits too, e.g. "-6.76e1".
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exponent) {
        fixed_notation(&digits, exponent)
    } else {
        scientific_notation(&digits, exponent)
    };
    format!("{sign}{body}")
}

/// `digits` (d1 d2 d3 ... meaning d1.d2d3... x 10^exponent) in fixed notation, as Python does.
fn fixed_notation(digits: &str, exponent: i32) -> String {
    match usize::try_from(exponent) {
        Ok(exponent) => {
            let int_len = exponent + 1;
            if digits.len() <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        }
        Err(_) => {
            let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
            format!("0.{}{digits}", "0".repeat(zeros))
        }
    }
}

/// `digits` in scientific notation, as Python does (`1.5e-07`, `1e+16`).
fn scientific_notation(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{first}{fraction}e{exp_sign}{:02}", exponent.unsigned_abs())
}

/// The text Python's `repr()` gives for a value loaded by `json.load`.
fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(number) => python_number(number),
        Value::String(text) => python_string_repr(text),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{}: {}", python_string_repr(key), python_repr(value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// A JSON number as Python writes the `int` or `float` that `json.load` makes of it.
fn python_number(number: &Number) -> String {
    if let Some(int) = number.as_i64() {
        int.to_string()
    } else if let Some(int) = number.as_u64() {
        int.to_string()
    } else {
        python_float_repr(number.as_f64().unwrap_or(f64::NAN))
    }
}

/// A string as Python's `repr()` quotes it: single quotes unless the text holds a single quote
/// and no double quote.
fn python_string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                out.push_str(&escape_code_point(c));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's escape for a non-printable character: `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
fn escape_code_point(c: char) -> String {
    match u32::from(c) {
        code @ 0..=0xff => format!("\\x{code:02x}"),
        code @ 0x100..=0xffff => format!("\\u{code:04x}"),
        code => format!("\\U{code:08x}"),
    }
}

/// `text` lower-cased (as Python's `str.lower`) unless the comparison is case-sensitive.
pub(crate) fn fold_case(text: &str, case_sensitive: bool) -> Cow<'_, str> {
    if case_sensitive {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::{fold_case, python_float_repr, python_str};
    use serde_json::json;

    /// Pairs of (float, Python's `repr` of it), recorded with CPython 3.
    const PYTHON_REPRS: &[(f64, &str)] = &[
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (224.0, "224.0"),
        (67.6, "67.6"),
        (0.1, "0.1"),
        (0.3, "0.3"),
        (100.0, "100.0"),
        (-3.25, "-3.25"),
        (1e16, "1e+16"),
        (1e-5, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (2.5e-5, "2.5e-05"),
        (0.0001, "0.0001"),
        (0.000123, "0.000123"),
        (1e22, "1e+22"),
        (1e100, "1e+100"),
        (1e15, "1000000000000000.0"),
        (9999999999999998.0, "9999999999999998.0"),
        (1234567890123456.7, "1234567890123456.8"),
        (1.2345678901234568e17, "1.2345678901234568e+17"),
        (-1e-300, "-1e-300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (-3.5233447033367523e-16, "-3.5233447033367523e-16"),
        (-8551274266.649145, "-8551274266.649145"),
        (-8117399161206.349, "-8117399161206.349"),
        (-88400215.04505864, "-88400215.04505864"),
        (-51867399974.595, "-51867399974.595"),
    ];

    #[test]
    fn floats_are_written_like_python_repr() {
        let wrong: Vec<String> = PYTHON_REPRS
            .iter()
            .filter(|(x, expected)| python_float_repr(*x) != *expected)
            .map(|(x, expected)| format!("{x:?}: got {}, want {expected}", python_float_repr(*x)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(python_float_repr(f64::INFINITY), "inf");
        assert_eq!(python_float_repr(f64::NEG_INFINITY), "-inf");
        assert_eq!(python_float_repr(f64::NAN), "nan");
    }

    #[test]
    fn scalars_are_written_like_python_str() {
        assert_eq!(python_str(&json!(224.0)), "224.0");
        assert_eq!(python_str(&json!(67.6)), "67.6");
        assert_eq!(python_str(&json!(128)), "128");
        assert_eq!(python_str(&json!(-7)), "-7");
        assert_eq!(python_str(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(python_str(&json!(null)), "None");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&json!(false)), "False");
        assert_eq!(python_str(&json!(" MMG ")), " MMG ");
        assert_eq!(python_str(&json!("")), "");
    }

    #[test]
    fn containers_are_written_like_python_str() {
        assert_eq!(
            python_str(&json!(["a", 1, 2.0, null, true])),
            "['a', 1, 2.0, None, True]"
        );
        assert_eq!(python_str(&json!({"k": [], "j": {}})), "{'k': [], 'j': {}}");
        assert_eq!(python_str(&json!(["it's"])), "[\"it's\"]");
        assert_eq!(python_str(&json!(["'\""])), "['\\'\"']");
        assert_eq!(python_str(&json!(["a\\b\n\u{1}"])), "['a\\\\b\\n\\x01']");
    }

    #[test]
    fn case_folding_only_when_insensitive() {
        assert_eq!(fold_case("MMG", true), "MMG");
        assert_eq!(fold_case("MMG", false), "mmg");
        assert_eq!(fold_case("None", false), "none");
    }
}
