//! `.dockerignore`, with Docker's semantics (moby's `ignorefile` and `patternmatcher`):
//! comments and blank lines skipped, each pattern cleaned like Go's `filepath.Clean` with a
//! leading `/` dropped, `*` and `?` within one path element, `[…]` classes, `\` escapes,
//! `**` across any number of elements, `!` re-including, the last matching pattern winning,
//! and a pattern that matches a parent folder matching everything under it. Pure: it
//! matches path text and reads no file.

/// A `.dockerignore` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A line Docker refuses (an unclosed `[`, a `!` alone).
    #[error("line {line}: {message}")]
    Pattern {
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One element of a compiled pattern (what moby turns into a regular expression).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A literal character.
    Char(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Question,
    /// `[…]`: one character of the class (or not, when negated).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` or an inner `**`: nothing, or anything ending in `/`.
    AnyFolders,
    /// A trailing `**` after other wildcards: anything.
    Anything,
}

/// How moby matches a pattern: plain comparisons when it has no wildcard, else its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    /// `prefix/**`.
    Prefix,
    /// `**/suffix`.
    Suffix,
    Tokens,
}

/// One cleaned pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    /// A `!` pattern: re-includes what it matches.
    exclusion: bool,
    kind: Kind,
    tokens: Vec<Token>,
}

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreFile {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` on `/`-separated text.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(last) if *last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

impl IgnoreFile {
    /// Reads a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Result<IgnoreFile, IgnoreError> {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = if index == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            if raw.starts_with('#') {
                continue;
            }
            let mut pattern = raw.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
            }
            let error = |message: &str| IgnoreError::Pattern {
                line,
                message: message.to_string(),
            };
            if pattern.is_empty() {
                return Err(error("illegal exclusion pattern: \"!\""));
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let (kind, tokens) = compile(&cleaned).map_err(|message| error(&message))?;
            patterns.push(Pattern {
                text: cleaned,
                exclusion,
                kind,
                tokens,
            });
        }
        Ok(IgnoreFile { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context:
    /// the last pattern matching it or one of its parent folders decides.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rsplit_once('/') {
            Some((parent, _)) => parent.split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            // An inclusion cannot change a path already left out, nor an exclusion one kept.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(path);
            if !hit {
                for end in 1..=parents.len() {
                    if pattern.matches(&parents[..end].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether the walk must still enter `folder`, which [`IgnoreFile::excludes`]: some `!`
    /// pattern starts with it (moby's rule, which looks at the pattern's text only).
    pub fn may_reinclude_under(&self, folder: &str) -> bool {
        let prefix = format!("{folder}/");
        self.patterns
            .iter()
            .filter(|pattern| pattern.exclusion)
            .any(|pattern| format!("{}/", pattern.text).starts_with(&prefix))
    }

    /// Whether any pattern re-includes (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|pattern| pattern.exclusion)
    }
}

/// The tokens of a cleaned pattern and how it is matched, as moby's `Pattern.compile`.
fn compile(pattern: &str) -> Result<(Kind, Vec<Token>), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut kind = Kind::Exact;
    let mut position = 0;
    let mut index = 0;
    while position < chars.len() {
        let ch = chars[position];
        position += 1;
        match ch {
            '*' if chars.get(position) == Some(&'*') => {
                position += 1;
                if chars.get(position) == Some(&'/') {
                    position += 1;
                }
                if position == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        tokens.push(Token::Anything);
                        kind = Kind::Tokens;
                    }
                } else {
                    tokens.push(Token::AnyFolders);
                    kind = Kind::Tokens;
                }
                if index == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                kind = Kind::Tokens;
            }
            '?' => {
                tokens.push(Token::Question);
                kind = Kind::Tokens;
            }
            '\\' => match chars.get(position) {
                Some(&next) => {
                    position += 1;
                    tokens.push(Token::Char(next));
                    kind = Kind::Tokens;
                }
                None => tokens.push(Token::Char('\\')),
            },
            '[' => {
                let (token, next) = class(&chars, position)
                    .ok_or_else(|| format!("syntax error in pattern {pattern:?}"))?;
                tokens.push(token);
                position = next;
                kind = Kind::Tokens;
            }
            ']' => {
                tokens.push(Token::Char(']'));
                kind = Kind::Tokens;
            }
            other => tokens.push(Token::Char(other)),
        }
        index += 1;
    }
    Ok((kind, tokens))
}

/// A `[…]` class starting after its `[`, and the position after its `]`.
fn class(chars: &[char], mut position: usize) -> Option<(Token, usize)> {
    let negated = chars.get(position) == Some(&'^');
    if negated {
        position += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut ch = *chars.get(position)?;
        position += 1;
        if ch == ']' && !first {
            return Some((Token::Class { negated, ranges }, position));
        }
        first = false;
        if ch == '\\' {
            ch = *chars.get(position)?;
            position += 1;
        }
        let mut high = ch;
        if chars.get(position) == Some(&'-') && chars.get(position + 1).is_some_and(|c| *c != ']') {
            high = chars[position + 1];
            position += 2;
            if high == '\\' {
                high = *chars.get(position)?;
                position += 1;
            }
            if high < ch {
                return None;
            }
        }
        ranges.push((ch, high));
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Tokens => {
                let text: Vec<char> = path.chars().collect();
                match_tokens(&self.tokens, &text)
            }
        }
    }
}

/// Whether `tokens` match all of `text` (moby's anchored regular expression).
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match token {
        Token::Char(ch) => text.first() == Some(ch) && match_tokens(rest, &text[1..]),
        Token::Question => {
            text.first().is_some_and(|c| *c != '/') && match_tokens(rest, &text[1..])
        }
        Token::Class { negated, ranges } => text.first().is_some_and(|c| {
            ranges.iter().any(|(low, high)| low <= c && c <= high) != *negated
                && match_tokens(rest, &text[1..])
        }),
        Token::Star => {
            for end in 0..=text.len() {
                if match_tokens(rest, &text[end..]) {
                    return true;
                }
                if text.get(end) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Token::AnyFolders => {
            match_tokens(rest, text)
                || (0..text.len())
                    .any(|slash| text[slash] == '/' && match_tokens(rest, &text[slash + 1..]))
        }
        Token::Anything => (0..=text.len()).any(|end| match_tokens(rest, &text[end..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> IgnoreFile {
        IgnoreFile::parse(text).unwrap()
    }

    #[test]
    fn paths_are_cleaned_as_go_does() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("**/"), "**");
    }

    #[test]
    fn plain_names_match_the_path_and_everything_under_it() {
        let file = ignore("# a comment\n\nnode_modules\n/build/\n  .git  \n");
        assert!(file.excludes("node_modules"));
        assert!(file.excludes("node_modules/left-pad/index.js"));
        assert!(file.excludes("build/out.o"));
        assert!(file.excludes(".git/HEAD"));
        assert!(
            !file.excludes("src/node_modules"),
            "anchored at the context root"
        );
        assert!(!file.excludes("# a comment"));
        assert!(!file.excludes("buildx"));
    }

    #[test]
    fn stars_stay_in_one_element_and_double_stars_cross_them() {
        let file = ignore("*.log\nsrc/*/tmp\n**/*.pyc\ndocs/**\n");
        assert!(file.excludes("debug.log"));
        assert!(
            !file.excludes("logs/debug.log"),
            "* is one element, at the root"
        );
        assert!(file.excludes("src/a/tmp"));
        assert!(file.excludes("src/a/tmp/x"));
        assert!(!file.excludes("src/a/b/tmp"));
        assert!(file.excludes("x.pyc"));
        assert!(file.excludes("a/b/c/x.pyc"));
        assert!(file.excludes("docs/a/b.md"));
        assert!(!file.excludes("docsx"));
        let suffix = ignore("**/secret.txt\n");
        assert!(suffix.excludes("secret.txt"));
        assert!(suffix.excludes("a/b/secret.txt"));
        assert!(!suffix.excludes("a/mysecret.txt"));
        let everything = ignore("**\n");
        assert!(everything.excludes("anything/at/all"));
    }

    #[test]
    fn questions_classes_and_escapes() {
        let file = ignore("file?.txt\n[abc].md\n[^x]y\nlit\\*\n");
        assert!(file.excludes("file1.txt"));
        assert!(!file.excludes("file10.txt"));
        assert!(file.excludes("b.md"));
        assert!(!file.excludes("d.md"));
        assert!(file.excludes("zy"));
        assert!(!file.excludes("xy"));
        assert!(file.excludes("lit*"));
        assert!(!file.excludes("litx"));
        let ranges = ignore("v[0-9].txt\n");
        assert!(ranges.excludes("v7.txt"));
        assert!(!ranges.excludes("va.txt"));
    }

    #[test]
    fn exceptions_re_include_and_the_last_match_wins() {
        let file = ignore("*.md\n!README.md\nREADME*.md\n!README-keep.md\n");
        assert!(file.excludes("CHANGES.md"));
        assert!(
            file.excludes("README.md"),
            "README*.md comes after the exception"
        );
        assert!(!file.excludes("README-keep.md"));
        let folder = ignore("vendor\n!vendor/keep.txt\n");
        assert!(folder.excludes("vendor/other.txt"));
        assert!(!folder.excludes("vendor/keep.txt"));
        assert!(folder.excludes("vendor"), "the folder itself stays out");
        assert!(folder.may_reinclude_under("vendor"));
        assert!(!folder.may_reinclude_under("other"));
        let everything_but = ignore("*\n!src\n!Dockerfile\n");
        assert!(!everything_but.excludes("src/main.rs"));
        assert!(!everything_but.excludes("Dockerfile"));
        assert!(everything_but.excludes("target/debug/app"));
    }

    #[test]
    fn bad_lines_are_refused_with_their_line() {
        assert_eq!(
            IgnoreFile::parse("ok\n!\n"),
            Err(IgnoreError::Pattern {
                line: 2,
                message: "illegal exclusion pattern: \"!\"".into()
            })
        );
        assert!(matches!(
            IgnoreFile::parse("a\nb\n[unclosed\n"),
            Err(IgnoreError::Pattern { line: 3, .. })
        ));
    }
}
