//! Where each node of a YAML file is, so errors found after deserializing can still name a line
//! and column. serde_yaml reports positions for what it rejects itself, but keeps none for
//! values it accepted; this is a second, position-only reading of the same text.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, Span};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    /// Entries keep the key's position, which is where a reader looks for a bad setting.
    Map(Pos, Vec<(String, Pos, Node)>),
    Seq(Pos, Vec<Node>),
    Scalar(Pos, String),
}

/// One step of a path into the document: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path such as `users.PortfolioUser.tasks[2].get`, the same spelling serde_yaml uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    pub fn key(&self, k: &str) -> YamlPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> YamlPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Map(p, _) | Node::Seq(p, _) | Node::Scalar(p, _) => *p,
        }
    }

    /// The position of the node at `path`, or of its nearest ancestor that exists.
    pub fn find(&self, path: &YamlPath) -> Pos {
        let mut node = self;
        let mut pos = self.pos();
        for seg in &path.0 {
            let next = match (node, seg) {
                (Node::Map(_, entries), Seg::Key(k)) => entries
                    .iter()
                    .find(|(key, _, _)| key == k)
                    .map(|(_, kp, n)| (*kp, n)),
                (Node::Seq(_, items), Seg::Index(i)) => items.get(*i).map(|n| (n.pos(), n)),
                _ => None,
            };
            match next {
                Some((p, n)) => {
                    pos = p;
                    node = n;
                }
                None => break,
            }
        }
        pos
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

struct Builder<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
}

impl Builder<'_> {
    fn next(&mut self) -> Option<(Event<'_>, Span)> {
        self.events.next()?.ok()
    }

    /// Builds the node that starts with `first`.
    fn node(&mut self, first: Event<'_>, span: Span) -> Option<Node> {
        let pos = pos_of(&span);
        let (node, anchor) = match first {
            Event::Scalar(value, _, anchor, _) => (Node::Scalar(pos, value.into_owned()), anchor),
            Event::Alias(id) => (self.anchors.get(&id).cloned()?, 0),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next_owned()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                (Node::Seq(pos, items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries = Vec::new();
                loop {
                    let (ev, sp) = self.next_owned()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key_pos = pos_of(&sp);
                    let key = match self.node(ev, sp)? {
                        Node::Scalar(_, k) => k,
                        _ => String::new(),
                    };
                    let (ev, sp) = self.next_owned()?;
                    entries.push((key, key_pos, self.node(ev, sp)?));
                }
                (Node::Map(pos, entries), anchor)
            }
            _ => return None,
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Some(node)
    }

    fn next_owned(&mut self) -> Option<(Event<'static>, Span)> {
        let (ev, sp) = self.next()?;
        let owned = match ev {
            Event::Scalar(v, style, anchor, _) => {
                Event::Scalar(v.into_owned().into(), style, anchor, None)
            }
            Event::SequenceStart(a, _) => Event::SequenceStart(a, None),
            Event::MappingStart(a, _) => Event::MappingStart(a, None),
            Event::SequenceEnd => Event::SequenceEnd,
            Event::MappingEnd => Event::MappingEnd,
            Event::Alias(id) => Event::Alias(id),
            _ => Event::Nothing,
        };
        Some((owned, sp))
    }
}

/// Reads the positions of the first document in `text`; `None` if the text is not valid YAML
/// (serde_yaml then reports the syntax error with its own position).
pub fn index(text: &str) -> Option<Node> {
    let mut b = Builder {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    loop {
        let (ev, sp) = b.next_owned()?;
        match ev {
            Event::MappingStart(..) | Event::SequenceStart(..) | Event::Scalar(..) => {
                return b.node(ev, sp);
            }
            Event::Nothing => continue,
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_items() {
        let text = "host: x\nusers:\n  A:\n    tasks:\n      - get: /a\n      - use: B\n        weight: 2\n";
        let root = index(text).unwrap();
        let p = YamlPath::default()
            .key("users")
            .key("A")
            .key("tasks")
            .index(1)
            .key("use");
        assert_eq!(p.to_string(), "users.A.tasks[1].use");
        assert_eq!(root.find(&p), Pos { line: 6, column: 9 });
        // A path that goes past the document stops at the deepest node that exists.
        let missing = YamlPath::default().key("users").key("A").key("nope");
        assert_eq!(root.find(&missing), Pos { line: 3, column: 3 });
    }

    #[test]
    fn follows_aliases() {
        let text = "a: &login\n  - get: /login\nb: *login\n";
        let root = index(text).unwrap();
        let p = YamlPath::default().key("b").index(0).key("get");
        assert_eq!(root.find(&p), Pos { line: 2, column: 5 });
    }

    #[test]
    fn broken_yaml_gives_none() {
        assert!(index("users:\n  A:\n    weight: [\n").is_none());
    }
}
