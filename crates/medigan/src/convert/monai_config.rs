//! The subset of MONAI's `ConfigParser` JSON that the converter reads, without running Python:
//! literals, `@name` references (`@a#b` into nested objects and lists), and `$` expressions made
//! only of references (with list indices, `@a[0]`), quoted strings and integers: strings joined
//! by `+` (the bundles' paths: `"$@bundle_root + '/models'"`), integers with `+ - * //` and
//! parentheses (MAISI's `"$@output_size[0]//4"`). Any other expression, a `%` macro or a
//! reference loop is refused with the key and the text at fault.

use serde_json::{Map, Value};

/// How deep references may chain (a loop is caught by this bound).
const MAX_DEPTH: usize = 32;

/// A component: its `_target_` and its resolved arguments.
pub type Component = (String, Map<String, Value>);

/// A bundle's `configs/inference.json`.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    root: Map<String, Value>,
}

impl BundleConfig {
    /// The config from its JSON object.
    pub fn new(root: Map<String, Value>) -> Self {
        BundleConfig { root }
    }

    /// The top-level entries.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The raw value at `id` (`a#b#0`), unresolved.
    pub fn raw(&self, id: &str) -> Option<&Value> {
        let mut parts = id.split('#');
        let mut value = self.root.get(parts.next()?)?;
        for part in parts {
            value = match value {
                Value::Object(map) => map.get(part)?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }

    /// The value at `id` with its references and path expressions resolved; `Ok(None)` when
    /// absent.
    pub fn get(&self, id: &str) -> Result<Option<Value>, String> {
        match self.raw(id) {
            None => Ok(None),
            Some(value) => self.resolve(value, id, 0).map(Some),
        }
    }

    /// The `_target_` of the object at `id` and its other arguments resolved (keys starting
    /// with `_`, such as `_requires_`, left out).
    pub fn component(&self, id: &str) -> Result<Option<Component>, String> {
        let Some(Value::Object(map)) = self.raw(id) else {
            return Ok(None);
        };
        let Some(target) = map.get("_target_").and_then(Value::as_str) else {
            return Ok(None);
        };
        let mut args = Map::new();
        for (key, value) in map {
            if key.starts_with('_') {
                continue;
            }
            args.insert(key.clone(), self.resolve(value, &format!("{id}#{key}"), 0)?);
        }
        Ok(Some((target.to_string(), args)))
    }

    fn resolve(&self, value: &Value, at: &str, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "`{at}`: references nest deeper than {MAX_DEPTH} (a loop?)"
            ));
        }
        match value {
            Value::String(text) => self.resolve_text(text, at, depth),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.resolve(v, &format!("{at}#{i}"), depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) if map.contains_key("_target_") => Err(format!(
                "`{at}` is an object to instantiate (`_target_`), where a value is expected"
            )),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, v) in map {
                    out.insert(
                        key.clone(),
                        self.resolve(v, &format!("{at}#{key}"), depth + 1)?,
                    );
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn resolve_text(&self, text: &str, at: &str, depth: usize) -> Result<Value, String> {
        if let Some(id) = text.strip_prefix('@') {
            let target = self
                .raw(id)
                .ok_or_else(|| format!("`{at}` refers to `@{id}`, which the config lacks"))?;
            return self.resolve(target, id, depth + 1);
        }
        if text.starts_with('%') {
            return Err(format!(
                "`{at}` is a macro into another file (`{text}`): not supported"
            ));
        }
        let Some(expression) = text.strip_prefix('$') else {
            return Ok(Value::String(text.to_string()));
        };
        let refuse = || {
            format!(
                "`{at}` is the Python expression `{text}`: only references (`@a`, `@a[0]`), \
                 quoted strings and integers joined by + - * // are read without running the \
                 bundle"
            )
        };
        let tokens = tokens(expression).ok_or_else(refuse)?;
        let mut parser = Parser {
            config: self,
            tokens: &tokens,
            at,
            depth,
            next: 0,
        };
        let value = parser.sum()?.ok_or_else(refuse)?;
        if parser.next != tokens.len() {
            return Err(refuse());
        }
        Ok(match value {
            Term::Int(i) => Value::from(i),
            Term::Text(s) => Value::String(s),
        })
    }
}

/// A token of a `$` expression.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ref(String),
    Int(i64),
    Text(String),
    Op(&'static str),
    Open,
    Close,
    Index(usize),
}

/// The tokens of `expression`, `None` at anything outside the subset.
fn tokens(expression: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = expression.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let id_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '#';
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '@' => {
                let start = i + 1;
                i = start;
                while i < chars.len() && id_char(chars[i]) {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                out.push(Token::Ref(chars[start..i].iter().collect()));
            }
            '[' => {
                let start = i + 1;
                let close = start + chars[start..].iter().position(|&c| c == ']')?;
                let index: String = chars[start..close].iter().collect();
                out.push(Token::Index(index.trim().parse().ok()?));
                i = close + 1;
            }
            '0'..='9' => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                out.push(Token::Int(digits.parse().ok()?));
            }
            '\'' | '"' => {
                let close = i + 1 + chars[i + 1..].iter().position(|&q| q == c)?;
                let literal: String = chars[i..=close].iter().collect();
                out.push(Token::Text(quoted(&literal)?.to_string()));
                i = close + 1;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                out.push(Token::Op("//"));
                i += 2;
            }
            '+' => (out.push(Token::Op("+")), i += 1).1,
            '-' => (out.push(Token::Op("-")), i += 1).1,
            '*' => (out.push(Token::Op("*")), i += 1).1,
            '(' => (out.push(Token::Open), i += 1).1,
            ')' => (out.push(Token::Close), i += 1).1,
            _ => return None,
        }
    }
    Some(out)
}

/// A value of a `$` expression.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Int(i64),
    Text(String),
}

/// Recursive descent over the tokens: `sum := product (('+'|'-') product)*`,
/// `product := atom (('*'|'//') atom)*`, `atom := ref index* | int | text | '(' sum ')'`.
/// `Ok(None)`: outside the subset (the caller names the expression); `Err`: a reference or a
/// value at fault.
struct Parser<'a> {
    config: &'a BundleConfig,
    tokens: &'a [Token],
    at: &'a str,
    depth: usize,
    next: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn sum(&mut self) -> Result<Option<Term>, String> {
        let Some(mut left) = self.product()? else {
            return Ok(None);
        };
        while let Some(Token::Op(op @ ("+" | "-"))) = self.peek() {
            let op = *op;
            self.next += 1;
            let Some(right) = self.product()? else {
                return Ok(None);
            };
            left = match self.apply(op, left, right)? {
                Some(v) => v,
                None => return Ok(None),
            };
        }
        Ok(Some(left))
    }

    fn product(&mut self) -> Result<Option<Term>, String> {
        let Some(mut left) = self.atom()? else {
            return Ok(None);
        };
        while let Some(Token::Op(op @ ("*" | "//"))) = self.peek() {
            let op = *op;
            self.next += 1;
            let Some(right) = self.atom()? else {
                return Ok(None);
            };
            left = match self.apply(op, left, right)? {
                Some(v) => v,
                None => return Ok(None),
            };
        }
        Ok(Some(left))
    }

    fn atom(&mut self) -> Result<Option<Term>, String> {
        let Some(token) = self.peek().cloned() else {
            return Ok(None);
        };
        self.next += 1;
        match token {
            Token::Int(i) => Ok(Some(Term::Int(i))),
            Token::Text(s) => Ok(Some(Term::Text(s))),
            Token::Open => {
                let inner = self.sum()?;
                if self.peek() != Some(&Token::Close) {
                    return Ok(None);
                }
                self.next += 1;
                Ok(inner)
            }
            Token::Ref(id) => {
                let mut value =
                    self.config
                        .resolve_text(&format!("@{id}"), self.at, self.depth + 1)?;
                while let Some(&Token::Index(i)) = self.peek() {
                    self.next += 1;
                    value = value
                        .get(i)
                        .cloned()
                        .ok_or_else(|| format!("`{}`: `@{id}` has no item [{i}]", self.at))?;
                }
                match value {
                    Value::String(s) => Ok(Some(Term::Text(s))),
                    Value::Number(n) if n.as_i64().is_some() => {
                        Ok(Some(Term::Int(n.as_i64().unwrap_or_default())))
                    }
                    other => Err(format!(
                        "`{}`: `@{id}` is {other}, not an integer or a string",
                        self.at
                    )),
                }
            }
            Token::Op(_) | Token::Close | Token::Index(_) => Ok(None),
        }
    }

    /// `left op right`: integers with + - * // (Python's floor division), strings joined by +.
    fn apply(&self, op: &str, left: Term, right: Term) -> Result<Option<Term>, String> {
        let at = self.at;
        Ok(Some(match (left, right) {
            (Term::Text(a), Term::Text(b)) if op == "+" => Term::Text(a + &b),
            (Term::Int(a), Term::Int(b)) => {
                let value = match op {
                    "+" => a.checked_add(b),
                    "-" => a.checked_sub(b),
                    "*" => a.checked_mul(b),
                    _ if b == 0 => return Err(format!("`{at}`: division by zero")),
                    _ => a.checked_div(b).map(|q| {
                        if a % b != 0 && ((a < 0) != (b < 0)) {
                            q - 1
                        } else {
                            q
                        }
                    }),
                };
                Term::Int(value.ok_or_else(|| format!("`{at}`: integer overflow"))?)
            }
            (a, b) => {
                return Err(format!(
                    "`{at}`: `{op}` between {a:?} and {b:?} (only integers, or strings joined \
                     by +)"
                ));
            }
        }))
    }
}

/// The text of a Python string literal `'...'` or `"..."` without escapes.
fn quoted(term: &str) -> Option<&str> {
    let inner = term
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| term.strip_prefix('"').and_then(|t| t.strip_suffix('"')))?;
    (!inner.contains(['\\', '\'', '"'])).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Value) -> BundleConfig {
        BundleConfig::new(value.as_object().unwrap().clone())
    }

    #[test]
    fn references_and_path_expressions_resolve() {
        let c = config(json!({
            "bundle_root": ".",
            "model_dir": "$@bundle_root + '/models'",
            "path": "$@model_dir + \"/model.pt\"",
            "channels": 4,
            "shape": ["@channels", 8],
            "net": {"_target_": "X", "_requires_": "@path", "in": "@channels", "deep": "@nested#a#1"},
            "nested": {"a": [0, 5]},
        }));
        assert_eq!(c.get("path").unwrap(), Some(json!("./models/model.pt")));
        assert_eq!(c.get("shape").unwrap(), Some(json!([4, 8])));
        let (target, args) = c.component("net").unwrap().unwrap();
        assert_eq!(target, "X");
        assert_eq!(Value::Object(args), json!({"in": 4, "deep": 5}));
        assert_eq!(c.get("missing").unwrap(), None);
    }

    #[test]
    fn expressions_loops_and_macros_are_refused_with_the_key() {
        let c = config(json!({
            "device": "$torch.device('cpu')",
            "a": "@b", "b": "@a",
            "m": "%other.json#x",
            "uses": {"_target_": "X", "d": "@device"},
            "gone": "@nowhere",
        }));
        let e = c.get("device").unwrap_err();
        assert!(
            e.contains("`device`") && e.contains("Python expression"),
            "{e}"
        );
        assert!(c.get("a").unwrap_err().contains("deeper"));
        assert!(c.get("m").unwrap_err().contains("macro"));
        let e = c.component("uses").unwrap_err();
        assert!(e.contains("torch.device"), "{e}");
        assert!(c.get("gone").unwrap_err().contains("`@nowhere`"));
    }

    #[test]
    fn integer_arithmetic_over_references_is_read_and_nothing_else() {
        let c = config(json!({
            "size": ["@xy", "@xy", 24],
            "xy": 32,
            "spacing": 1.5,
            "latent": ["@channels", "$@size[0]//4", "$@size[2] // 4", "$(@size[1] + 8) * 2 - 1"],
            "channels": 4,
            "floor": "$(0 - 7)//2",
            "path": "$@root + '/a+b'",
            "root": ".",
            "call": "$@size[0].bit_length()",
            "float": "$@spacing * 2",
            "zero": "$@xy // 0",
            "out": "$@size[5]",
            "mixed": "$@root + 1",
        }));
        assert_eq!(c.get("latent").unwrap(), Some(json!([4, 8, 6, 79])));
        assert_eq!(c.get("floor").unwrap(), Some(json!(-4)));
        assert_eq!(c.get("path").unwrap(), Some(json!("./a+b")));
        for (key, says) in [
            ("call", "Python expression"),
            ("float", "not an integer"),
            ("zero", "division by zero"),
            ("out", "no item [5]"),
            ("mixed", "only integers"),
        ] {
            let e = c.get(key).unwrap_err();
            assert!(
                e.contains(&format!("`{key}`")) && e.contains(says),
                "{key}: {e}"
            );
        }
    }
}
