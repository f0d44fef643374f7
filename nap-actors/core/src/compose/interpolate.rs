//! Variable interpolation in compose file values, as the Compose Specification
//! defines it and Docker Compose v2 (compose-go's `template` package) does it.
//!
//! [`interpolate`] replaces, in one string:
//!
//! - `$NAME` and `${NAME}` with the variable's value, or `""` when it is unset;
//! - `${NAME:-word}` / `${NAME-word}` with `word` when the variable is unset or
//!   empty / unset;
//! - `${NAME:?word}` / `${NAME?word}` with the value, or fails with `word` as the
//!   message when the variable is unset or empty / unset;
//! - `${NAME:+word}` / `${NAME+word}` with `word` when the variable is set and
//!   non-empty / set, and with `""` otherwise;
//! - `$$` with a literal `$`.
//!
//! A `word` is itself interpolated, so expressions nest (`${A:-${B:-x}}`), and it
//! is interpolated only when it is used: an error or an unset variable inside a
//! word that is not used goes unnoticed, as in compose-go. A word ends at the `}`
//! that balances the expression's `{`; braces in between, bare or of nested
//! expressions, are counted, so `${A:-{"k":1}}` defaults to `{"k":1}`. A `$`
//! followed by anything else (`$ `, `$-`, `$1`, a trailing `$`) is kept as it is.
//! Names are `[A-Za-z_][A-Za-z0-9_]*`.
//!
//! It does not read the environment or `.env` files (the caller's `lookup` does),
//! does not warn about unset variables (the caller can, with
//! [`referenced_variables`]), and knows nothing of YAML: it sees one string at a
//! time.
//!
//! Where it knowingly differs from compose-go (v2, `template/template.go`), on
//! unusual inputs:
//!
//! - compose-go finds the end of a word with a brace counter that skips the
//!   character after every `{`, so `{{` and `{}` count as one brace
//!   (`${A:-{{x}}}` with `A` set gives `a}` there); this module counts every brace;
//! - compose-go's case-insensitive pattern also takes `ſ` (U+017F) and `K`
//!   (U+212A, Kelvin) as name characters; here names are ASCII only;
//! - more than 64 nested expressions are rejected here rather than recursed into.
//!
//! Like compose-go, an expression must end on the line it starts on, and when a
//! word's braces do not balance before the end of the line, the expression ends
//! at the last `}` of that line (`${A:-{x}` defaults to `{x`).
//!
//! Docker Compose 1.29 (the Python one) implements older rules: no nesting, no
//! `:+` / `+`, a word ends at its first `}`, a lone `$` is an error, and `${V?}`
//! uses the name as its message. This module follows compose-go throughout.

use indexmap::IndexSet;

/// How deeply expressions may nest in one another before interpolation gives up.
const MAX_NESTING: usize = 64;

/// An error in a `${...}` expression. Messages are lowercase, no trailing period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${V:?msg}` or `${V?msg}` met `V` unset (or, for `:?`, empty); `message` is
    /// the interpolated `msg`, possibly empty.
    #[error("required variable {name} is missing a value{}", message_suffix(.message))]
    Required {
        /// The variable's name.
        name: String,
        /// The expression's own message, interpolated; empty when it has none.
        message: String,
    },
    /// A malformed expression, such as `${`, `${V`, `${V:x}` or `${}`.
    #[error("invalid interpolation format for {input:?}: {reason}")]
    InvalidFormat {
        /// The whole string being interpolated.
        input: String,
        /// What is wrong, and where.
        reason: FormatError,
    },
}

/// What is wrong with a malformed `${...}` expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `${` with no name after it.
    #[error(r#"missing variable name after "${{""#)]
    MissingName,
    /// A name that starts with a digit.
    #[error("variable name {name:?} must start with a letter or an underscore")]
    LeadingDigit {
        /// The name.
        name: String,
    },
    /// No closing `}` (on the same line, when `on_line`).
    #[error("missing \"}}\" to close \"${{{name}\"{}", if *.on_line { " on the same line" } else { "" })]
    Unclosed {
        /// The variable's name.
        name: String,
        /// Whether the line ended first (a `}` on a later line does not count).
        on_line: bool,
    },
    /// Something other than `}` or an operator after the name.
    #[error(
        "unexpected {found:?} after \"${{{name}\" (expected \"}}\" or one of :-, -, :?, ?, :+, +)"
    )]
    UnexpectedAfterName {
        /// The variable's name.
        name: String,
        /// What follows it.
        found: String,
    },
    /// More than `MAX_NESTING` expressions inside one another.
    #[error("expressions are nested more than {MAX_NESTING} deep")]
    TooDeep,
}

/// The `: msg` part of a [`InterpolationError::Required`] message, or nothing.
fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Interpolates one string value. `lookup` returns the variable's value or None when unset.
///
/// # Errors
///
/// [`InterpolationError::Required`] when a used `:?` / `?` expression meets its
/// variable missing, and [`InterpolationError::InvalidFormat`] when a `${` that
/// has to be read is malformed; the first one met is returned.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    Interpolator { input, lookup }.expand(input, 0)
}

/// The names of the variables `input` refers to (for diagnostics / watch), in order of appearance, without duplicates.
///
/// Names in every word count, used or not, including those in `:?` messages.
/// Malformed expressions are skipped, so this never fails.
pub fn referenced_variables(input: &str) -> Vec<String> {
    let mut names = IndexSet::new();
    collect_names(input, 0, &mut names);
    names.into_iter().map(str::to_owned).collect()
}

/// Adds the names that `template` refers to, nested ones included, to `names`.
fn collect_names<'s>(template: &'s str, depth: usize, names: &mut IndexSet<&'s str>) {
    if depth > MAX_NESTING {
        return;
    }
    for token in Tokens::new(template).flatten() {
        match token {
            Token::Text(_) => {}
            Token::Variable(name) => {
                names.insert(name);
            }
            Token::Expression { name, word, .. } => {
                names.insert(name);
                collect_names(word, depth + 1, names);
            }
        }
    }
}

/// What an expression does with its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// `:-`: the word when the variable is unset or empty.
    DefaultIfUnsetOrEmpty,
    /// `-`: the word when the variable is unset.
    DefaultIfUnset,
    /// `:?`: an error when the variable is unset or empty.
    ErrorIfUnsetOrEmpty,
    /// `?`: an error when the variable is unset.
    ErrorIfUnset,
    /// `:+`: the word when the variable is set and non-empty, else nothing.
    ReplaceIfNonEmpty,
    /// `+`: the word when the variable is set, else nothing.
    ReplaceIfSet,
}

impl Operator {
    /// Splits the operator that `s` starts with off it.
    fn split_prefix(s: &str) -> Option<(Self, &str)> {
        let (colon, rest) = match s.strip_prefix(':') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let mut chars = rest.chars();
        let operator = match (colon, chars.next()?) {
            (true, '-') => Self::DefaultIfUnsetOrEmpty,
            (false, '-') => Self::DefaultIfUnset,
            (true, '?') => Self::ErrorIfUnsetOrEmpty,
            (false, '?') => Self::ErrorIfUnset,
            (true, '+') => Self::ReplaceIfNonEmpty,
            (false, '+') => Self::ReplaceIfSet,
            _ => return None,
        };
        Some((operator, chars.as_str()))
    }
}

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'s> {
    /// Text to copy as it is (a `$$` comes out as the text `$`).
    Text(&'s str),
    /// `$NAME` or `${NAME}`.
    Variable(&'s str),
    /// `${NAME<operator>word}`, with `word` not yet interpolated.
    Expression {
        /// The variable's name.
        name: &'s str,
        /// What to do with `word`.
        operator: Operator,
        /// The text between the operator and the closing brace.
        word: &'s str,
    },
}

/// Splits a template into tokens; a malformed `${` comes out as `Err(reason)`,
/// after which the tokens go on right after that `${`.
struct Tokens<'s> {
    /// What is left to split.
    rest: &'s str,
    /// Set when a search for a closing `}` failed: the rest of the current line
    /// has none, so a later `${` on it fails the same way without searching
    /// again (this keeps a line full of `${A:-` linear).
    unclosed_line: Option<Unclosed>,
}

impl<'s> Tokens<'s> {
    /// The tokens of `template`.
    fn new(template: &'s str) -> Self {
        Self {
            rest: template,
            unclosed_line: None,
        }
    }

    /// Parses what follows a `${`: returns the token and what follows it.
    fn braced(&mut self, body: &'s str) -> Result<(Token<'s>, &'s str), FormatError> {
        let (name, after_name) = split_name(body);
        if name.is_empty() {
            return Err(FormatError::MissingName);
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(FormatError::LeadingDigit {
                name: name.to_owned(),
            });
        }
        if let Some(rest) = after_name.strip_prefix('}') {
            return Ok((Token::Variable(name), rest));
        }
        if after_name.is_empty() {
            return Err(Unclosed::AtEnd.reason(name));
        }
        let Some((operator, word_and_rest)) = Operator::split_prefix(after_name) else {
            return Err(FormatError::UnexpectedAfterName {
                name: name.to_owned(),
                found: unexpected_prefix(after_name).to_owned(),
            });
        };
        let split = match self.unclosed_line {
            Some(unclosed) => Err(unclosed),
            None => split_word(word_and_rest),
        };
        match split {
            Ok((word, rest)) => Ok((
                Token::Expression {
                    name,
                    operator,
                    word,
                },
                rest,
            )),
            Err(unclosed) => {
                self.unclosed_line = Some(unclosed);
                Err(unclosed.reason(name))
            }
        }
    }
}

impl<'s> Iterator for Tokens<'s> {
    type Item = Result<Token<'s>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(after) = self.rest.strip_prefix('$') else {
            let end = self.rest.find('$').unwrap_or(self.rest.len());
            let (text, rest) = self.rest.split_at(end);
            if text.contains('\n') {
                self.unclosed_line = None;
            }
            self.rest = rest;
            return Some(Ok(Token::Text(text)));
        };
        if let Some(rest) = after.strip_prefix('$') {
            self.rest = rest;
            return Some(Ok(Token::Text("$")));
        }
        if let Some(body) = after.strip_prefix('{') {
            return Some(match self.braced(body) {
                Ok((token, rest)) => {
                    self.rest = rest;
                    Ok(token)
                }
                Err(reason) => {
                    self.rest = body;
                    Err(reason)
                }
            });
        }
        if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            let (name, rest) = split_name(after);
            self.rest = rest;
            return Some(Ok(Token::Variable(name)));
        }
        // A `$` that starts no expression stays, as in compose-go.
        self.rest = after;
        Some(Ok(Token::Text("$")))
    }
}

/// Splits `s` after its longest prefix of name characters, `[A-Za-z0-9_]`.
fn split_name(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Why an expression has no closing `}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unclosed {
    /// The input ended first.
    AtEnd,
    /// The line ended first (a `}` on a later line does not count).
    AtNewline,
}

impl Unclosed {
    /// The reason to give for an unclosed expression on `name`.
    fn reason(self, name: &str) -> FormatError {
        FormatError::Unclosed {
            name: name.to_owned(),
            on_line: self == Self::AtNewline,
        }
    }
}

/// Splits `s`, what follows an expression's operator, into the word and what
/// follows the expression's closing `}`.
///
/// The closing `}` is the first that balances the braces since the start of
/// `s`; when there is none before the end of the line, it is the last `}` of
/// the line, as compose-go's pattern takes it.
fn split_word(s: &str) -> Result<(&str, &str), Unclosed> {
    let mut depth = 0_usize;
    let mut last_close = None;
    let mut unclosed = Unclosed::AtEnd;
    for (index, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                last_close = Some(index);
                break;
            }
            '}' => {
                depth -= 1;
                last_close = Some(index);
            }
            '\n' => {
                unclosed = Unclosed::AtNewline;
                break;
            }
            _ => {}
        }
    }
    let (word, rest) = s.split_at(last_close.ok_or(unclosed)?);
    Ok((word, rest.strip_prefix('}').unwrap_or(rest)))
}

/// The start of `s` to show as unexpected: one character, or two after a `:`.
fn unexpected_prefix(s: &str) -> &str {
    let take = if s.starts_with(':') { 2 } else { 1 };
    let end = s
        .char_indices()
        .nth(take)
        .map_or(s.len(), |(index, _)| index);
    s.get(..end).unwrap_or(s)
}

/// Interpolates the templates of one input.
struct Interpolator<'a> {
    /// The whole input, for error messages.
    input: &'a str,
    /// The variables' values.
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Interpolator<'_> {
    /// Interpolates `template`, which is nested `depth` expressions deep in the input.
    fn expand(&self, template: &str, depth: usize) -> Result<String, InterpolationError> {
        if depth > MAX_NESTING {
            return Err(self.invalid(FormatError::TooDeep));
        }
        let mut out = String::with_capacity(template.len());
        for token in Tokens::new(template) {
            match token.map_err(|reason| self.invalid(reason))? {
                Token::Text(text) => out.push_str(text),
                Token::Variable(name) => out.push_str(&(self.lookup)(name).unwrap_or_default()),
                Token::Expression {
                    name,
                    operator,
                    word,
                } => out.push_str(&self.evaluate(name, operator, word, depth)?),
            }
        }
        Ok(out)
    }

    /// The value of `${name<operator>word}`; `word` is interpolated only if used.
    fn evaluate(
        &self,
        name: &str,
        operator: Operator,
        word: &str,
        depth: usize,
    ) -> Result<String, InterpolationError> {
        let word = || self.expand(word, depth + 1);
        let value = (self.lookup)(name);
        let non_empty = value.as_deref().is_some_and(|value| !value.is_empty());
        match operator {
            Operator::DefaultIfUnsetOrEmpty => match value {
                Some(value) if non_empty => Ok(value),
                _ => word(),
            },
            Operator::DefaultIfUnset => match value {
                Some(value) => Ok(value),
                None => word(),
            },
            Operator::ErrorIfUnsetOrEmpty => match value {
                Some(value) if non_empty => Ok(value),
                _ => Err(required(name, word()?)),
            },
            Operator::ErrorIfUnset => match value {
                Some(value) => Ok(value),
                None => Err(required(name, word()?)),
            },
            Operator::ReplaceIfNonEmpty if non_empty => word(),
            Operator::ReplaceIfSet if value.is_some() => word(),
            Operator::ReplaceIfNonEmpty | Operator::ReplaceIfSet => Ok(String::new()),
        }
    }

    /// An [`InterpolationError::InvalidFormat`] for this input.
    fn invalid(&self, reason: FormatError) -> InterpolationError {
        InterpolationError::InvalidFormat {
            input: self.input.to_owned(),
            reason,
        }
    }
}

/// An [`InterpolationError::Required`] for `name`.
fn required(name: &str, message: String) -> InterpolationError {
    InterpolationError::Required {
        name: name.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// The variables most tests see: `A` and `FOO` set, `E` and `BAR` set but
    /// empty, `JSON` holding braces; every other name is unset.
    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".to_owned()),
            "FOO" => Some("first".to_owned()),
            "E" | "BAR" => Some(String::new()),
            "JSON" => Some(r#"{"json":2}"#.to_owned()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<String, InterpolationError> {
        interpolate(input, &env)
    }

    fn ok(input: &str) -> String {
        match run(input) {
            Ok(value) => value,
            Err(error) => panic!("{input:?} failed: {error}"),
        }
    }

    fn required(input: &str) -> (String, String) {
        match run(input) {
            Err(InterpolationError::Required { name, message }) => (name, message),
            other => panic!("{input:?} gave {other:?}, not a required error"),
        }
    }

    fn invalid(input: &str) -> String {
        match run(input) {
            Err(InterpolationError::InvalidFormat {
                input: whole,
                reason,
            }) => {
                assert_eq!(whole, input);
                reason.to_string()
            }
            other => panic!("{input:?} gave {other:?}, not an invalid format error"),
        }
    }

    #[derive(Debug)]
    enum Expect {
        /// Interpolates to this.
        Value(&'static str),
        /// Fails with a required error: the name and the message.
        Missing(&'static str, &'static str),
        /// Fails with an invalid format error.
        Malformed,
    }

    /// Every expected result here is what compose-go's own `template.Substitute`
    /// returned for the same input and variables (compose-spec/compose-go at
    /// e70e961c, run as a Go program on this table).
    #[test]
    fn matches_compose_go() {
        use Expect::{Malformed, Missing, Value};
        let cases = [
            ("", Value("")),
            ("plain text", Value("plain text")),
            ("$A", Value("a")),
            ("${A}", Value("a")),
            ("$U", Value("")),
            ("${U}", Value("")),
            ("$E", Value("")),
            ("x$A-y", Value("xa-y")),
            ("$FOO-bar", Value("first-bar")),
            ("${FOO}bar", Value("firstbar")),
            ("$FOObar", Value("")),
            ("$A.$FOO", Value("a.first")),
            ("$_", Value("")),
            ("$1", Value("$1")),
            ("$1A", Value("$1A")),
            ("${A1}", Value("")),
            ("${_A}", Value("")),
            ("$a", Value("")),
            ("$$", Value("$")),
            ("$$$$", Value("$$")),
            ("$$A", Value("$A")),
            ("$${A}", Value("${A}")),
            ("$$$A", Value("$a")),
            ("$", Value("$")),
            ("a $ string", Value("a $ string")),
            ("^REGEX$", Value("^REGEX$")),
            ("$}", Value("$}")),
            ("$-", Value("$-")),
            ("$ {A}", Value("$ {A}")),
            ("$é", Value("$é")),
            ("${A:-d}", Value("a")),
            ("${E:-d}", Value("d")),
            ("${U:-d}", Value("d")),
            ("${A-d}", Value("a")),
            ("${E-d}", Value("")),
            ("${U-d}", Value("d")),
            ("${U:-}", Value("")),
            ("${U-}", Value("")),
            ("${A:?err}", Value("a")),
            ("${E:?err}", Missing("E", "err")),
            ("${U:?err}", Missing("U", "err")),
            ("${A?err}", Value("a")),
            ("${E?err}", Value("")),
            ("${U?err}", Missing("U", "err")),
            ("${U:?}", Missing("U", "")),
            ("${U?}", Missing("U", "")),
            ("${E:?}", Missing("E", "")),
            ("${A:+r}", Value("r")),
            ("${E:+r}", Value("")),
            ("${U:+r}", Value("")),
            ("${A+r}", Value("r")),
            ("${E+r}", Value("r")),
            ("${U+r}", Value("")),
            ("${U:-${A}}", Value("a")),
            ("${U:-${U2:-x}}", Value("x")),
            ("${U:-$FOO}", Value("first")),
            ("${U:-foo ${A} bar}", Value("foo a bar")),
            ("${U-${FOO} ${FOO}}", Value("first first")),
            ("${A:-${U:-x}}", Value("a")),
            ("${A:+${FOO}-${A}}", Value("first-a")),
            ("${A+$FOO ${FOO:+second}}", Value("first second")),
            ("${U:-/non:-alphanumeric}", Value("/non:-alphanumeric")),
            ("${U-myerror?msg}", Value("myerror?msg")),
            ("${U?bar-baz}", Missing("U", "bar-baz")),
            ("${FOO?bar-baz}", Value("first")),
            ("${U:?missing ${FOO}}", Missing("U", "missing first")),
            ("${U?${A:+set}}", Missing("U", "set")),
            ("${U:?${U2:?inner}}", Missing("U2", "inner")),
            (r#"${U:-{"json":1}}"#, Value(r#"{"json":1}"#)),
            (r#"${JSON:-{"json":1}}"#, Value(r#"{"json":2}"#)),
            ("${U:-{x}}", Value("{x}")),
            ("${U:-a}b}", Value("ab}")),
            ("${A:-a}b}", Value("ab}")),
            ("{${A}}", Value("{a}")),
            ("}", Value("}")),
            ("${U:-{x}", Value("{x")),
            ("${A:-{x}", Value("a")),
            ("${U:-x}\n}", Value("x\n}")),
            ("${A:-${}}", Value("a")),
            ("${U:-${}}", Malformed),
            ("${A?${}}", Value("a")),
            ("${A:+${U:-x}y}z", Value("xyz")),
            ("${", Malformed),
            ("${}", Malformed),
            ("${ }", Malformed),
            ("${ foo}", Malformed),
            ("${foo }", Malformed),
            ("${foo!}", Malformed),
            ("${A", Malformed),
            ("${A:x}", Malformed),
            ("${A:}", Malformed),
            ("${A:-x", Malformed),
            ("${A-", Malformed),
            ("${1A}", Malformed),
            ("${é}", Malformed),
            ("${Aé}", Malformed),
            ("${U:-x\ny}", Malformed),
            ("${A\n}", Malformed),
            ("a\n${A}\nb", Value("a\na\nb")),
            ("${U:-x}\n${A}", Value("x\na")),
            ("héllo ${FOO} wörld", Value("héllo first wörld")),
            ("${U:-ünïcode 🎉}", Value("ünïcode 🎉")),
            ("🎉$A🎉", Value("🎉a🎉")),
            ("${U:-${A}}${E:-e}$FOO", Value("aefirst")),
        ];
        for (input, expected) in cases {
            let got = run(input);
            let matches = match (&expected, &got) {
                (Value(want), Ok(value)) => want == value,
                (
                    Missing(want_name, want_message),
                    Err(InterpolationError::Required { name, message }),
                ) => want_name == name && want_message == message,
                (Malformed, Err(InterpolationError::InvalidFormat { .. })) => true,
                _ => false,
            };
            assert!(matches, "{input:?}: expected {expected:?}, got {got:?}");
        }
    }

    /// Where Docker Compose 1.29 (the Python one, as Debian ships it) differs,
    /// this module follows compose-go; each comment says what 1.29 gives.
    #[test]
    fn follows_compose_go_where_compose_1_29_differs() {
        // 1.29: an "invalid interpolation format" error for each lone `$`.
        for input in ["$", "a $ b", "^REGEX$", "$}", "$-", "$1"] {
            assert_eq!(ok(input), input);
        }
        // 1.29: no `:+` / `+` at all, an invalid format error.
        assert_eq!(ok("${A:+r}${E+r}"), "rr");
        // 1.29: no nesting; the word ends at its first `}` and is not
        // interpolated: "${A}" and "foo ${A bar}".
        assert_eq!(ok("${U:-${A}}"), "a");
        assert_eq!(ok("${U:-foo ${A} bar}"), "foo a bar");
        // 1.29: "a}".
        assert_eq!(ok("${A:-${U:-x}}"), "a");
        // 1.29: `{"json":2}}`, the word being `{"json":1`.
        assert_eq!(ok(r#"${JSON:-{"json":1}}"#), r#"{"json":2}"#);
        // 1.29: the message is the name, "U".
        assert_eq!(required("${U?}"), ("U".to_owned(), String::new()));
        // 1.29: the message is "missing ${FOO", not interpolated.
        assert_eq!(
            required("${U:?missing ${FOO}}"),
            ("U".to_owned(), "missing first".to_owned())
        );
        // 1.29: "x\ny", a word may span lines there.
        invalid("${U:-x\ny}");
        // 1.29: "${}", the word being taken as it is.
        invalid("${U:-${}}");
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(ok(""), "");
        assert_eq!(ok("no variables here"), "no variables here");
        assert_eq!(ok("{braces} and }{ alone"), "{braces} and }{ alone");
        assert_eq!(ok("multi\nline\n"), "multi\nline\n");
    }

    #[test]
    fn simple_forms() {
        assert_eq!(ok("$A"), "a");
        assert_eq!(ok("${A}"), "a");
        assert_eq!(ok("<$FOO>"), "<first>");
        assert_eq!(ok("${FOO}bar"), "firstbar");
        assert_eq!(ok("$FOObar"), "", "the name is as long as it can be");
        assert_eq!(ok("$FOO-bar"), "first-bar");
        assert_eq!(ok("$FOO.$A/$A"), "first.a/a");
        assert_eq!(ok("$U ${U} $E ${E}"), "   ");
        assert_eq!(ok("$a"), "", "names are case-sensitive");
        assert_eq!(ok("$_"), "");
        assert_eq!(ok("${_A1}"), "");
    }

    #[test]
    fn default_forms() {
        assert_eq!(ok("${A:-d}"), "a");
        assert_eq!(ok("${E:-d}"), "d");
        assert_eq!(ok("${U:-d}"), "d");
        assert_eq!(ok("${A-d}"), "a");
        assert_eq!(ok("${E-d}"), "");
        assert_eq!(ok("${U-d}"), "d");
        assert_eq!(ok("${U:-}"), "");
        assert_eq!(ok("${U-}"), "");
        assert_eq!(ok("${U:-a b:-c-d?e+f}"), "a b:-c-d?e+f");
        assert_eq!(ok("${U-x:?y}"), "x:?y", "the first operator wins");
    }

    #[test]
    fn required_forms() {
        assert_eq!(ok("${A:?err}"), "a");
        assert_eq!(ok("${A?err}"), "a");
        assert_eq!(ok("${E?err}"), "", "`?` accepts an empty value");
        assert_eq!(required("${E:?err}"), ("E".to_owned(), "err".to_owned()));
        assert_eq!(required("${U:?err}"), ("U".to_owned(), "err".to_owned()));
        assert_eq!(
            required("x ${U?e r r}"),
            ("U".to_owned(), "e r r".to_owned())
        );
        assert_eq!(
            required("${U?bar-baz}"),
            ("U".to_owned(), "bar-baz".to_owned())
        );
        assert_eq!(required("${U:?}"), ("U".to_owned(), String::new()));
        assert_eq!(required("${E:?}"), ("E".to_owned(), String::new()));
        assert_eq!(required("${U?}"), ("U".to_owned(), String::new()));
    }

    #[test]
    fn replacement_forms() {
        assert_eq!(ok("${A:+r}"), "r");
        assert_eq!(ok("${E:+r}"), "");
        assert_eq!(ok("${U:+r}"), "");
        assert_eq!(ok("${A+r}"), "r");
        assert_eq!(ok("${E+r}"), "r");
        assert_eq!(ok("${U+r}"), "");
        assert_eq!(ok("--flag${A:+=$A}"), "--flag=a");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("$$$$"), "$$");
        assert_eq!(ok("$$A"), "$A");
        assert_eq!(ok("$${A}"), "${A}");
        assert_eq!(ok("$$${A}"), "$a");
        assert_eq!(ok("$${"), "${", "an escaped `$${{` needs no `}}`");
        assert_eq!(ok("${U:-$$}"), "$");
        assert_eq!(ok("${U:-$${A}}"), "${A}");
    }

    #[test]
    fn a_dollar_that_starts_nothing_stays() {
        for input in [
            "$", "a $ b", "^REGEX$", "$}", "$-", "$:", "$1", "$1A", "$é", "$🎉", "$\n",
        ] {
            assert_eq!(ok(input), input);
        }
        assert_eq!(ok("$ {A}"), "$ {A}");
        assert_eq!(ok("$$$"), "$$");
    }

    #[test]
    fn nested_expressions() {
        assert_eq!(ok("${A:-${B:-x}}"), "a");
        assert_eq!(ok("${U:-${B:-x}}"), "x");
        assert_eq!(ok("${U:-${FOO:-x}}"), "first");
        assert_eq!(ok("${U:-foo ${A} bar}"), "foo a bar");
        assert_eq!(ok("${U:-$FOO}"), "first");
        assert_eq!(ok("${U-${FOO} ${FOO}}"), "first first");
        assert_eq!(ok("${A:+${FOO}-${A}}"), "first-a");
        assert_eq!(ok("${U:-${U2:-${U3:-deep}}}!"), "deep!");
        assert_eq!(ok("${A:+${U:-x}y}z"), "xyz");
        assert_eq!(
            required("${U:?missing ${FOO}}"),
            ("U".to_owned(), "missing first".to_owned())
        );
        assert_eq!(
            required("${U:?${U2:?inner}}"),
            ("U2".to_owned(), "inner".to_owned()),
            "the message's own error comes first"
        );
    }

    #[test]
    fn braces_inside_words_balance() {
        assert_eq!(ok(r#"${U:-{"json":1}}"#), r#"{"json":1}"#);
        assert_eq!(ok(r#"${JSON:-{"json":1}}"#), r#"{"json":2}"#);
        assert_eq!(ok("${U:-{}}"), "{}");
        assert_eq!(ok("${U:-{a{b}c}}d"), "{a{b}c}d");
        assert_eq!(
            ok("${U:-a}b}"),
            "ab}",
            "a stray `}}` after the expression is text"
        );
        assert_eq!(ok("${A:-a}b}"), "ab}");
        assert_eq!(ok("{${A}}"), "{a}");
        assert_eq!(ok("${U:-${A}}}"), "a}");
    }

    /// Where this module's brace counting and compose-go's differ: compose-go
    /// skips the character after each `{`, so `{{` and `{}` count as one brace.
    #[test]
    fn every_brace_counts_unlike_compose_go() {
        // compose-go: "a}" (its word is "{{x}" and "}" follows the expression).
        assert_eq!(ok("${A:-{{x}}}"), "a");
        // compose-go: "{{x}}", the same.
        assert_eq!(ok("${U:-{{x}}}"), "{{x}}");
        // compose-go: "{}b" followed by "}" as text, i.e. "{}}b".
        assert_eq!(ok("${U:-{}}b}"), "{}b}");
    }

    /// Unbalanced braces in a word: like compose-go, the expression then ends at
    /// the last `}` of its line.
    #[test]
    fn unbalanced_words_end_at_the_last_brace_of_the_line() {
        assert_eq!(ok("${U:-{x}"), "{x");
        assert_eq!(ok("${A:-{x}"), "a");
        assert_eq!(ok("${U:-{x} y}"), "{x} y");
        assert_eq!(ok("${U:-{x}\n}"), "{x\n}");
        assert!(invalid("${U:-{x").contains("missing \"}\""));
    }

    #[test]
    fn words_are_interpolated_only_when_used() {
        assert_eq!(ok("${A:-${}}"), "a");
        assert_eq!(ok("${A?${U:?never}}"), "a");
        assert_eq!(ok("${U:+${}}"), "");
        invalid("${U:-${}}");
        invalid("${A:+${}}");

        let seen = RefCell::new(Vec::new());
        let lookup = |name: &str| {
            seen.borrow_mut().push(name.to_owned());
            env(name)
        };
        assert_eq!(
            interpolate("${A:-${B}}${U:+${C}}${E:?${D}}", &lookup),
            Err(InterpolationError::Required {
                name: "E".to_owned(),
                message: String::new()
            })
        );
        assert_eq!(*seen.borrow(), ["A", "U", "E", "D"]);
    }

    #[test]
    fn malformed_expressions() {
        for input in [
            "${",
            "${}",
            "${ }",
            "${ foo}",
            "${foo }",
            "${foo!}",
            "${A",
            "${A:x}",
            "${A:}",
            "${A:",
            "${A:-x",
            "${A-",
            "${A?",
            "${1A}",
            "${é}",
            "${Aé}",
            "${A\n}",
            "${U:-x\ny}",
            "${U:-${A}",
            "ok ${A} then ${",
            "${A.B}",
            "${A[0]}",
        ] {
            invalid(input);
        }
    }

    #[test]
    fn expressions_end_on_their_line() {
        assert_eq!(ok("a\n${A}\nb"), "a\na\nb");
        assert_eq!(ok("${U:-x}\n${A:-y}\n"), "x\na\n");
        assert_eq!(
            invalid("${U:-x\ny}"),
            r#"missing "}" to close "${U" on the same line"#
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            run("${U:?set U please}").map_err(|e| e.to_string()),
            Err("required variable U is missing a value: set U please".to_owned())
        );
        assert_eq!(
            run("${U?}").map_err(|e| e.to_string()),
            Err("required variable U is missing a value".to_owned())
        );
        let message = |input: &str| run(input).map_err(|e| e.to_string()).err();
        assert_eq!(
            message("x ${"),
            Some(
                r#"invalid interpolation format for "x ${": missing variable name after "${""#
                    .to_owned()
            )
        );
        assert_eq!(
            message("${}"),
            Some(
                r#"invalid interpolation format for "${}": missing variable name after "${""#
                    .to_owned()
            )
        );
        assert_eq!(
            message("${V"),
            Some(
                r#"invalid interpolation format for "${V": missing "}" to close "${V""#.to_owned()
            )
        );
        assert_eq!(
            message("${V:-x"),
            Some(
                r#"invalid interpolation format for "${V:-x": missing "}" to close "${V""#
                    .to_owned()
            )
        );
        assert_eq!(
            message("${V:x}"),
            Some(
                r#"invalid interpolation format for "${V:x}": unexpected ":x" after "${V" (expected "}" or one of :-, -, :?, ?, :+, +)"#
                    .to_owned()
            )
        );
        assert_eq!(
            message("${V é}"),
            Some(
                r#"invalid interpolation format for "${V é}": unexpected " " after "${V" (expected "}" or one of :-, -, :?, ?, :+, +)"#
                    .to_owned()
            )
        );
        assert_eq!(
            message("${1x}"),
            Some(
                r#"invalid interpolation format for "${1x}": variable name "1x" must start with a letter or an underscore"#
                    .to_owned()
            )
        );
        // An error in a nested word still names the whole input.
        assert_eq!(
            message("a ${U:-${}} b"),
            Some(r#"invalid interpolation format for "a ${U:-${}} b": missing variable name after "${""#.to_owned())
        );
    }

    #[test]
    fn names_are_ascii_unlike_compose_go() {
        // compose-go takes `ſ` and the Kelvin sign `K` as name characters.
        assert_eq!(ok("$ſ"), "$ſ");
        assert_eq!(ok("$A\u{212A}"), "a\u{212A}");
        invalid("${\u{212A}}");
    }

    #[test]
    fn multibyte_text_is_safe() {
        assert_eq!(ok("héllo ${FOO} wörld"), "héllo first wörld");
        assert_eq!(ok("${U:-ünïcode 🎉}"), "ünïcode 🎉");
        assert_eq!(ok("🎉$A🎉$"), "🎉a🎉$");
        assert_eq!(ok("日本${A:+語}$$"), "日本語$");
        assert!(invalid("${A:é}").contains(r#"unexpected ":é""#));
        assert!(invalid("${🎉}").contains("missing variable name"));
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |depth: usize| format!("{}x{}", "${U:-".repeat(depth), "}".repeat(depth));
        assert_eq!(ok(&nested(MAX_NESTING)), "x");
        assert!(invalid(&nested(MAX_NESTING + 1)).contains("nested"));
        // Far deeper than any stack would take by recursion.
        assert!(invalid(&nested(10_000)).contains("nested"));
        assert_eq!(referenced_variables(&nested(10_000)), ["U"]);
        // Unused words are not descended into.
        assert_eq!(ok(&format!("${{A:-{}}}", nested(10_000))), "a");
    }

    #[test]
    fn lines_of_unclosed_expressions_stay_fast() {
        let input = "${A:-$B ".repeat(50_000);
        assert_eq!(referenced_variables(&input), ["B"]);
        invalid(&input);
    }

    #[test]
    fn referenced_variables_in_order_without_duplicates() {
        assert!(referenced_variables("").is_empty());
        assert!(referenced_variables("no vars, $$ESCAPED, $${ESCAPED}, $ 1").is_empty());
        assert_eq!(referenced_variables("$B ${A} $B ${C:-x}"), ["B", "A", "C"]);
        assert_eq!(
            referenced_variables("${A:-${B:-$C}} ${D:+${E}} ${F:?${G}} ${H-$A}"),
            ["A", "B", "C", "D", "E", "F", "G", "H"]
        );
        assert_eq!(referenced_variables(r#"${A:-{"k":"$B"}}"#), ["A", "B"]);
        // Malformed expressions are skipped, their names too; the rest counts.
        assert_eq!(referenced_variables("${ $A ${B:x} ${1} $C ${D"), ["A", "C"]);
        assert_eq!(referenced_variables("${A:-x\n$B ${C}"), ["B", "C"]);
    }

    /// A small deterministic generator, so that the test needs no dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(self.0 >> 33).unwrap_or(0)
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let pieces = [
            "$", "$", "{", "}", "}", ":", "-", "?", "+", "A", "E", "U", "FOO", "_", "1", "x", " ",
            "\n", "é", "🎉", "日", "\u{0}", "${", "${A", ":-", "${U:-", "${E:+", "$$",
        ];
        let mut random = Lcg(42);
        for _ in 0..20_000 {
            let len = random.next() % 24;
            let input: String = (0..len)
                .map(|_| pieces[random.next() % pieces.len()])
                .collect();
            let result = run(&input);
            if !input.contains('$') {
                assert_eq!(result.as_deref(), Ok(input.as_str()));
            }
            let names = referenced_variables(&input);
            let mut unique = names.clone();
            unique.dedup();
            assert_eq!(names.len(), unique.len());
        }
        // Arbitrary scalar values, not only the syntax's own characters.
        for _ in 0..5_000 {
            let len = random.next() % 16;
            let input: String = (0..len)
                .filter_map(|_| match random.next() % 4 {
                    0 => Some('$'),
                    1 => ['{', '}', ':', '-'].get(random.next() % 4).copied(),
                    _ => char::from_u32(u32::try_from(random.next() % 0x11_0000).unwrap_or(0)),
                })
                .collect();
            let _ = run(&input);
            let _ = referenced_variables(&input);
        }
    }
}
