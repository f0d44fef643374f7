//! Parses `.env` and `env_file` files as Docker Compose does.
//!
//! `KEY=VALUE` lines, optional `export `, `#` comments, blank lines; single-quoted values are
//! literal, double-quoted values take `\n`-style escapes and interpolation, unquoted values
//! are trimmed, lose a ` #` trailing comment and are interpolated. Interpolation sees the
//! variables defined earlier in the same file, then the `lookup` the caller gives. A line
//! `KEY` alone takes KEY's value from `lookup`, or is skipped. Reads no file itself.

use super::interpolate::interpolate;

/// A parse error with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// The line at fault.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses `text`; returns the variables in file order.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotenvError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw_line)) = lines.next() {
        let line_number = index + 1;
        let line = raw_line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let error = |message: String| DotenvError {
            line: line_number,
            message,
        };
        let (key, raw_value) = match line.split_once('=') {
            Some((key, value)) => (key.trim_end(), Some(value)),
            None => (line.trim_end(), None),
        };
        if !is_valid_key(key) {
            return Err(error(format!("invalid variable name {key:?}")));
        }
        let known = |name: &str| {
            out.iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .or_else(|| lookup(name))
        };
        let Some(raw_value) = raw_value else {
            if let Some(value) = lookup(key) {
                out.push((key.to_string(), value));
            }
            continue;
        };
        let value_start = raw_value.trim_start();
        let value = if let Some(rest) = value_start.strip_prefix('\'') {
            let mut content = rest.to_string();
            // A quoted value may span lines.
            while !content.contains('\'') {
                match lines.next() {
                    Some((_, next)) => {
                        content.push('\n');
                        content.push_str(next);
                    }
                    None => return Err(error("unterminated single quote".to_string())),
                }
            }
            let end = content.find('\'').unwrap_or(content.len());
            content[..end].to_string()
        } else if let Some(rest) = value_start.strip_prefix('"') {
            let mut content = rest.to_string();
            while find_closing_double_quote(&content).is_none() {
                match lines.next() {
                    Some((_, next)) => {
                        content.push('\n');
                        content.push_str(next);
                    }
                    None => return Err(error("unterminated double quote".to_string())),
                }
            }
            let end = find_closing_double_quote(&content).unwrap_or(content.len());
            let unescaped = unescape_double_quoted(&content[..end]);
            interpolate(&unescaped, &known).map_err(|e| error(e.to_string()))?
        } else {
            let without_comment = match value_start.find(" #") {
                Some(cut) => &value_start[..cut],
                None => value_start,
            };
            interpolate(without_comment.trim_end(), &known).map_err(|e| error(e.to_string()))?
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn find_closing_double_quote(content: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in content.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

fn unescape_double_quoted(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        parse(text, &lookup).unwrap()
    }

    #[test]
    fn forms() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"x\\ny ${A}\"\nE=${A}-${HOMEISH:-h}\nF\nG=\n";
        let parsed = parse_with(text, &[("F", "from-env")]);
        let get = |key: &str| {
            parsed
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("lit $A"));
        assert_eq!(get("D"), Some("x\ny 1"));
        assert_eq!(get("E"), Some("1-h"));
        assert_eq!(get("F"), Some("from-env"));
        assert_eq!(get("G"), Some(""));
    }

    #[test]
    fn errors_have_lines() {
        let lookup = |_: &str| None;
        let error = parse("A=1\nB C=2\n", &lookup).unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("A=\"open\n", &lookup).unwrap_err();
        assert_eq!(error.line, 1);
        let error = parse("A=${X:?needed}\n", &lookup).unwrap_err();
        assert!(error.message.contains("needed"), "{}", error.message);
    }
}
