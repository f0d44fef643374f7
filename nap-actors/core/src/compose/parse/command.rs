//! `command` and `entrypoint`: a list as it is, a string split into words the way a POSIX
//! shell splits them ([`shell_split`]), as compose does.

use serde_yaml::Value;

use super::FileContext;
use super::read::*;
use crate::compose::LoadError;

/// Why a command line cannot be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShellSplitError {
    /// A `'` without its closing `'`.
    #[error("unterminated single quote")]
    SingleQuote,
    /// A `"` without its closing `"`.
    #[error("unterminated double quote")]
    DoubleQuote,
}

/// Splits a command line the way a POSIX shell splits words (quotes and backslashes),
/// as compose does for string `command` and `entrypoint`.
pub fn shell_split(line: &str) -> Result<Vec<String>, ShellSplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => word.push(inner),
                        None => return Err(ShellSplitError::SingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(ShellSplitError::DoubleQuote),
                        },
                        Some(inner) => word.push(inner),
                        None => return Err(ShellSplitError::DoubleQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(escaped) => word.push(escaped),
                    None => word.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

pub(super) fn command(
    ctx: &FileContext,
    path: &str,
    value: &Value,
) -> Result<Option<Vec<String>>, LoadError> {
    match value {
        Value::Null => Ok(None),
        Value::Sequence(_) => string_list(ctx, path, value).map(Some),
        other => {
            let line = string(ctx, path, other)?;
            shell_split(&line)
                .map(Some)
                .map_err(|reason| ctx.invalid(path, reason))
        }
    }
}
