//! Where each key of a YAML file stands, so that errors can name the file and line.
//!
//! [`SourceMap::build`] walks the file's YAML events once and records the line of every
//! mapping key and sequence item under a dotted path (`services.web.ports[1]`). It does not
//! interpret the document; the loader parses it separately with serde_yaml.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// How deeply lists and mappings may nest in a file: serde_yaml's own recursion limit.
///
/// The loader checks it on the [`SourceMap`] walk (yaml-rust2) before serde_yaml parses the
/// file: libyaml's scanner takes time quadratic in the nesting of flow collections (`[[[[…`),
/// minutes for a file of a few hundred kilobytes, before serde_yaml gets to its limit.
pub const MAX_NESTING: usize = 128;

/// A place in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
}

impl Location {
    /// Where serde_yaml's `error` stands in `text`, the content of `file`.
    ///
    /// At the end of a file that does not end with a line break, libyaml starts a line of its
    /// own past the last one (`a:\n  b` fails "at line 3"); such an error is placed on the
    /// last line, so that the line named is always one of the file's.
    pub fn of_yaml_error(file: &Path, text: &str, error: &serde_yaml::Error) -> Location {
        Location {
            file: file.to_path_buf(),
            line: error
                .location()
                .map(|location| location.line().min(last_line(text))),
        }
    }
}

/// The 1-based number of the last line of `text`, as YAML counts lines: `\r\n`, `\n`, `\r`,
/// NEL, LS and PS each end one. A file that ends with a line break ends on an empty line.
pub fn last_line(text: &str) -> usize {
    let mut breaks = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => breaks += 1,
            _ => {}
        }
    }
    breaks + 1
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.file.display(), line),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Lines of the keys of one YAML file, by dotted path.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file: PathBuf,
    lines: HashMap<String, usize>,
    too_deep: Option<usize>,
}

impl SourceMap {
    /// Indexes `text`, the content of `file`. A document that does not parse gives an empty
    /// index (serde_yaml reports the syntax error with its own position).
    pub fn build(file: &Path, text: &str) -> SourceMap {
        let mut collector = PathCollector::default();
        let mut parser = Parser::new_from_str(text);
        // A syntax error ends the walk early; the lines found so far stay useful. One that
        // the walk stopped at is yaml-rust2's own flow nesting limit (255) means too deep:
        // its scanner meets it before it hands over the first event of a line of `[[[[…`.
        if let Err(error) = parser.load(&mut collector, false)
            && error.info() == "recursion limit exceeded"
        {
            collector.too_deep.get_or_insert(error.marker().line());
        }
        // Like libyaml, yaml-rust2 puts the end of a file that ends without a line break on a
        // line past the last one; a node there (an empty value) is on the last line.
        let last = last_line(text);
        for line in collector.lines.values_mut() {
            *line = (*line).min(last);
        }
        SourceMap {
            file: file.to_path_buf(),
            lines: collector.lines,
            too_deep: collector.too_deep.map(|line| line.min(last)),
        }
    }

    /// A map for a file that has no YAML source (errors name the file alone).
    pub fn without_lines(file: &Path) -> SourceMap {
        SourceMap {
            file: file.to_path_buf(),
            lines: HashMap::new(),
            too_deep: None,
        }
    }

    /// The line where lists and mappings first nest deeper than [`MAX_NESTING`], if they do.
    pub fn too_deep(&self) -> Option<usize> {
        self.too_deep
    }

    /// The file this map describes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The location of `path`, or of its nearest recorded ancestor.
    pub fn locate(&self, path: &str) -> Location {
        let mut candidate = path;
        let line = loop {
            if let Some(line) = self.lines.get(candidate) {
                break Some(*line);
            }
            match candidate.rfind(['.', '[']) {
                Some(cut) => candidate = &candidate[..cut],
                None => break None,
            }
        };
        Location {
            file: self.file.clone(),
            line,
        }
    }
}

enum Frame {
    Mapping {
        path: String,
        pending_key: Option<String>,
        expecting_key: bool,
    },
    Sequence {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct PathCollector {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
    /// The line of the first collection nested deeper than [`MAX_NESTING`].
    too_deep: Option<usize>,
}

impl PathCollector {
    /// Notes the line of a collection that has just started, if it is the first too deep.
    fn check_depth(&mut self, line: usize) {
        if self.stack.len() > MAX_NESTING && self.too_deep.is_none() {
            self.too_deep = Some(line);
        }
    }

    /// The path of the node that is starting now, advancing the parent frame.
    fn begin_node(&mut self, line: usize) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping {
                path,
                pending_key,
                expecting_key,
            }) => {
                if *expecting_key {
                    // A key; only scalar keys get paths.
                    *expecting_key = false;
                    None
                } else {
                    *expecting_key = true;
                    let key = pending_key.take()?;
                    let child = join(path, &key);
                    Some(child)
                }
            }
            Some(Frame::Sequence { path, index }) => {
                let child = format!("{path}[{index}]");
                *index += 1;
                self.lines.entry(child.clone()).or_insert(line);
                Some(child)
            }
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl MarkedEventReceiver for PathCollector {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line();
        match event {
            Event::Scalar(value, ..) => {
                match self.stack.last_mut() {
                    Some(Frame::Mapping {
                        path,
                        pending_key,
                        expecting_key: true,
                    }) => {
                        let key_path = join(path, &value);
                        self.lines.entry(key_path).or_insert(line);
                        *pending_key = Some(value);
                    }
                    // An item of a list of names (`depends_on: [db]`, `networks: [back]`) is
                    // also found by name, as the loader names it once the list is a map
                    // (`services.web.depends_on.db`).
                    // An empty item names nothing (it would stand for the list itself).
                    Some(Frame::Sequence { path, .. }) if !value.is_empty() => {
                        self.lines.entry(join(path, &value)).or_insert(line);
                    }
                    _ => {}
                }
                self.begin_node(line);
            }
            Event::Alias(_) => {
                self.begin_node(line);
            }
            Event::MappingStart(..) => {
                let path = self.begin_node(line).unwrap_or_else(|| "?".to_string());
                self.stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                    expecting_key: true,
                });
                self.check_depth(line);
            }
            Event::SequenceStart(..) => {
                let path = self.begin_node(line).unwrap_or_else(|| "?".to_string());
                self.stack.push(Frame::Sequence { path, index: 0 });
                self.check_depth(line);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_lines_of_keys_and_items() {
        let text = "services:\n  web:\n    image: nginx\n    ports:\n      - \"80:80\"\n      - 443\n  db:\n    image: pg\n";
        let map = SourceMap::build(Path::new("c.yml"), text);
        assert_eq!(map.locate("services").line, Some(1));
        assert_eq!(map.locate("services.web.image").line, Some(3));
        assert_eq!(map.locate("services.web.ports[1]").line, Some(6));
        assert_eq!(map.locate("services.db").line, Some(7));
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(map.locate("services.db.command").line, Some(7));
        assert_eq!(map.locate("nothing").line, None);
    }

    #[test]
    fn list_items_are_found_by_name() {
        let text = "services:\n  web:\n    depends_on:\n      - db\n      - cache\n    networks: [front, back]\n";
        let map = SourceMap::build(Path::new("c.yml"), text);
        assert_eq!(map.locate("services.web.depends_on.cache").line, Some(5));
        assert_eq!(
            map.locate("services.web.depends_on.cache.condition").line,
            Some(5)
        );
        assert_eq!(map.locate("services.web.networks.back").line, Some(6));
        assert_eq!(map.locate("services.web.networks.other").line, Some(6));
        assert_eq!(map.locate("services.web.depends_on[1]").line, Some(5));
    }

    #[test]
    fn lines_stay_inside_the_file() {
        // The empty item at the end is on line 2, not on the line past it.
        let map = SourceMap::build(Path::new("f.yml"), "a:\n  -");
        assert_eq!(map.locate("a[0]").line, Some(2));
        // An empty item is not the list's own name.
        let map = SourceMap::build(Path::new("f.yml"), "- x\n- ''\n");
        assert_eq!(map.locate("").line, None);
        assert_eq!(map.locate("x").line, Some(1));
    }

    #[test]
    fn flow_style_and_nested_sequences() {
        let text = "a: {b: [1, {c: 2}]}\nd:\n  - - x\n";
        let map = SourceMap::build(Path::new("f.yml"), text);
        assert_eq!(map.locate("a.b[1].c").line, Some(1));
        assert_eq!(map.locate("d[0][0]").line, Some(3));
    }
}
