//! Messages: values copied out of one heap so they can be rebuilt in
//! another.
//!
//! Owns: [`Message`], the deep copy of a value made with the lock held,
//! which holds no object, no reference count and no pointer into the heap
//! it came from — so it is `Send` and `Sync` by construction, with no
//! `unsafe impl`, and can wait in a channel or cross to an interpreter
//! that has a lock and a heap of its own. May not touch: object internals
//! (it reads values through the value layer's API and builds new ones
//! through its constructors).
//!
//! # What can be sent
//!
//! `nil`, booleans, integers, floats, strings, bytes, and lists and maps
//! whose contents can be sent. These are plain data: a copy behaves exactly like
//! the original. Everything else is refused with an error naming its type
//! and where it sits inside the value:
//!
//! - functions: a closure's captured variables are cells shared with the
//!   code that made it; a copy would silently stop sharing them;
//! - generators: a suspended frame, with the same problem;
//! - threads: a join handle belongs to the interpreter that started it;
//! - any object kind added later, until someone decides how it is copied
//!   (the check lists what may pass, not what may not).
//!
//! Ruby's Ractors draw the same line: an unshareable object sent to another
//! Ractor is deep-copied, and one that cannot be copied (a `Thread`, say)
//! makes the send raise.
//!
//! # Sharing, cycles and depth
//!
//! An object reached twice (the same list in two places) is copied once,
//! and the copy keeps the sharing, so a value whose contents are shared many
//! times over costs what its objects cost, not what it would print as. A
//! value that contains itself is refused: a copy of a cycle would be a
//! cycle in the receiving heap, which reference counting never frees.
//! Nesting deeper than 100 levels (`MAX_NESTING`) is refused too (the same limit as
//! printing and comparing), so copying never runs out of stack.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{Key, MAX_NESTING, Obj, ObjRef, ScriptChannel, Value};
use crate::gil::Token;
use crate::vm::error::RtError;

/// A deep copy of a value, independent of any heap: see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The copied objects, each after everything it contains.
    nodes: Vec<Node>,
    /// The value itself: a plain value, or the last node.
    root: Item,
    /// About how many bytes the copy occupies.
    bytes: usize,
}

/// A value inside a message: plain, or an index into `nodes`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Item {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Node(u32),
}

/// A copied object.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Str(Box<str>),
    Bytes(Box<[u8]>),
    List(Vec<Item>),
    Map(Vec<(MessageKey, Item)>),
    Channel(SentChannel),
}

/// A channel inside a message: not copied but shared (its queue is already
/// shared by every holder), by cloning the handle.
#[derive(Clone, Debug)]
struct SentChannel(ScriptChannel);

impl PartialEq for SentChannel {
    fn eq(&self, other: &SentChannel) -> bool {
        self.0.same_channel(&other.0)
    }
}

/// A copied map key.
#[derive(Clone, Debug, PartialEq)]
enum MessageKey {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Box<str>),
}

/// Why a value could not be copied: the reason, and the path from the
/// value to the part that was refused, innermost step first (reversed once
/// at the end).
struct Refusal {
    reason: String,
    path: Vec<String>,
}

impl Refusal {
    fn new(reason: String) -> Refusal {
        Refusal { reason, path: Vec::new() }
    }

    fn into_error(mut self, what: &str) -> RtError {
        self.path.reverse();
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" (at {what}{})", self.path.concat())
        };
        RtError::new(format!("cannot send {}{at}", self.reason))
    }
}

/// The one copy in progress: what has been copied, and what is being.
struct Packer {
    nodes: Vec<Node>,
    /// Objects already copied, by address, with their node.
    done: HashMap<usize, u32>,
    /// Lists and maps being copied now: the path from the root.
    open: HashSet<usize>,
    bytes: usize,
}

/// An object's address: stable while it lives (the caller holds the value,
/// and with it everything the value reaches), so it names the object for
/// the length of one copy.
fn address(r: &ObjRef) -> usize {
    std::ptr::from_ref(r.get()) as usize
}

impl Packer {
    fn item(&mut self, value: &Value, depth: u32) -> Result<Item, Refusal> {
        Ok(match value {
            Value::Nil | Value::Unset => Item::Nil,
            Value::Bool(b) => Item::Bool(*b),
            Value::Int(i) => Item::Int(*i),
            Value::Float(f) => Item::Float(*f),
            Value::Obj(r) => Item::Node(self.object(value, r, depth)?),
        })
    }

    fn object(&mut self, value: &Value, r: &ObjRef, depth: u32) -> Result<u32, Refusal> {
        let at = address(r);
        if let Some(&node) = self.done.get(&at) {
            return Ok(node);
        }
        if self.open.contains(&at) {
            return Err(Refusal::new(format!(
                "a {} that contains itself: a copy of a cycle could never be freed",
                value.type_name()
            )));
        }
        let node = match r.get() {
            Obj::Str(s) => {
                self.bytes += s.len();
                Node::Str(Box::from(s.as_str()))
            }
            Obj::Bytes(b) => {
                self.bytes += b.len();
                Node::Bytes(b.clone())
            }
            Obj::List(items) => {
                self.enter(at, depth)?;
                let items = items.borrow();
                let mut copied = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let copy = self.item(&item, depth + 1).map_err(|mut refusal| {
                        refusal.path.push(format!("[{i}]"));
                        refusal
                    })?;
                    copied.push(copy);
                }
                self.open.remove(&at);
                self.bytes += copied.len() * std::mem::size_of::<Item>();
                Node::List(copied)
            }
            Obj::Map(map) => {
                self.enter(at, depth)?;
                let map = map.borrow();
                let mut copied = Vec::with_capacity(map.len());
                for (key, item) in map.iter() {
                    let key = self.key(key);
                    let copy = self.item(item, depth + 1).map_err(|mut refusal| {
                        refusal.path.push(format!("[{}]", key.show()));
                        refusal
                    })?;
                    copied.push((key, copy));
                }
                self.open.remove(&at);
                self.bytes += copied.len() * std::mem::size_of::<(MessageKey, Item)>();
                Node::Map(copied)
            }
            Obj::Channel(channel) => {
                self.bytes += std::mem::size_of::<ScriptChannel>();
                Node::Channel(SentChannel(channel.clone()))
            }
            _ => {
                let kind = value.type_name();
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                return Err(Refusal::new(format!(
                    "{article} {kind} to another thread or interpreter: only nil, booleans, \
                     numbers, strings, bytes, and lists and maps of those can be sent (they \
                     are copied), and channels (they are shared)"
                )));
            }
        };
        let index = u32::try_from(self.nodes.len())
            .map_err(|_| Refusal::new("a value made of more than 4 billion objects".into()))?;
        self.nodes.push(node);
        self.done.insert(at, index);
        Ok(index)
    }

    /// Start copying a list or map at nesting `depth`.
    fn enter(&mut self, at: usize, depth: u32) -> Result<(), Refusal> {
        if depth >= MAX_NESTING {
            return Err(Refusal::new(format!(
                "a value nested more than {MAX_NESTING} levels deep"
            )));
        }
        self.open.insert(at);
        Ok(())
    }

    fn key(&mut self, key: &Key) -> MessageKey {
        match key {
            Key::Nil => MessageKey::Nil,
            Key::Bool(b) => MessageKey::Bool(*b),
            Key::Int(i) => MessageKey::Int(*i),
            Key::Str(r) => {
                let text: Box<str> = match r.get() {
                    Obj::Str(s) => Box::from(s.as_str()),
                    // A string key always holds a string (`Key::from_value`).
                    _ => Box::from(""),
                };
                self.bytes += text.len();
                MessageKey::Str(text)
            }
        }
    }
}

impl MessageKey {
    /// The key as a script would write it, for paths in messages.
    fn show(&self) -> String {
        match self {
            MessageKey::Nil => "nil".into(),
            MessageKey::Bool(b) => b.to_string(),
            MessageKey::Int(i) => i.to_string(),
            MessageKey::Str(s) => format!("{s:?}"),
        }
    }
}

impl Message {
    /// Copy `value` (with the lock held, which the token proves). Refuses
    /// what cannot be sent with an error that names the type and where it
    /// sits, e.g. `cannot send a function ... (at value[2]["on_done"])`.
    pub fn copy(_token: Token<'_>, value: &Value) -> Result<Message, RtError> {
        let mut packer =
            Packer { nodes: Vec::new(), done: HashMap::new(), open: HashSet::new(), bytes: 0 };
        let root = packer.item(value, 0).map_err(|refusal| refusal.into_error("value"))?;
        let bytes = packer.bytes + packer.nodes.len() * std::mem::size_of::<Node>();
        Ok(Message { nodes: packer.nodes, root, bytes })
    }

    /// Rebuild the value in the heap of whoever holds `token`: new objects,
    /// sharing what the original shared, nothing in common with it.
    pub fn open(self, token: Token<'_>) -> Value {
        // Every node comes after the nodes it contains, so one pass in
        // order builds each object from finished parts: no recursion.
        let mut built: Vec<Value> = Vec::with_capacity(self.nodes.len());
        let value_of = |built: &[Value], item: Item| match item {
            Item::Nil => Value::Nil,
            Item::Bool(b) => Value::Bool(b),
            Item::Int(i) => Value::Int(i),
            Item::Float(f) => Value::Float(f),
            Item::Node(n) => built[n as usize].clone(),
        };
        for node in self.nodes {
            let value = match node {
                Node::Str(s) => Value::str(token, s),
                Node::Bytes(b) => Value::Obj(ObjRef::new(token, Obj::Bytes(b))),
                Node::List(items) => {
                    let items = items.into_iter().map(|item| value_of(&built, item)).collect();
                    Value::list(token, items)
                }
                Node::Map(entries) => {
                    let mut map = super::map_table(entries.len());
                    for (key, item) in entries {
                        let key = match key {
                            MessageKey::Nil => Key::Nil,
                            MessageKey::Bool(b) => Key::Bool(b),
                            MessageKey::Int(i) => Key::Int(i),
                            MessageKey::Str(s) => Key::Str(ObjRef::new(token, Obj::Str(s.into()))),
                        };
                        map.insert(key, value_of(&built, item));
                    }
                    Value::Obj(ObjRef::new(token, Obj::Map(RefCell::new(map))))
                }
                Node::Channel(SentChannel(channel)) => {
                    Value::Obj(ObjRef::new(token, Obj::Channel(channel)))
                }
            };
            built.push(value);
        }
        value_of(&built, self.root)
    }

    /// About how many bytes the copy occupies (for memory accounting).
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// How many objects (strings, lists, maps) the copy holds.
    pub fn objects(&self) -> usize {
        self.nodes.len()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a message of {} objects, about {} bytes", self.nodes.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::attach;
    use crate::vm::value::live_objects;

    /// Run `source` and return the value of its global `result`, copied.
    fn message_of(source: &str) -> Result<Message, RtError> {
        attach(|token| {
            let program = crate::vm::load(token, "message.toy", source).expect("script runs");
            let value = program.global(token, "result").expect("script sets result");
            Message::copy(token, &value)
        })
    }

    /// Open `message` and render the value as `print` would.
    fn shown(message: Message) -> String {
        attach(|token| {
            let value = message.open(token);
            value.repr()
        })
    }

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn a_message_can_cross_threads() {
        assert_send_sync::<Message>();
    }

    #[test]
    fn plain_data_is_copied_whole() {
        let message = message_of(
            r#"let result = [nil, true, 3, 2.5, "text", {"a": [1, 2], 7: {"b": false}}]"#,
        )
        .expect("plain data can be sent");
        assert_eq!(
            shown(message),
            r#"[nil, true, 3, 2.5, "text", {"a": [1, 2], 7: {"b": false}}]"#
        );
    }

    #[test]
    fn bytes_are_copied_like_strings() {
        let message = message_of(r#"let result = [bytes("a\n"), bytes([0, 255])]"#)
            .expect("bytes can be sent");
        assert_eq!(shown(message), r#"[b"a\n", b"\x00\xff"]"#);
    }

    #[test]
    fn plain_values_need_no_objects() {
        let message = message_of("let result = 42").expect("an int can be sent");
        assert_eq!(message.objects(), 0);
        assert_eq!(shown(message), "42");
    }

    #[test]
    fn the_copy_is_independent_of_the_original() {
        attach(|token| {
            let program = crate::vm::load(token, "m.toy", "let result = [1, [2]]").expect("runs");
            let original = program.global(token, "result").expect("set");
            let message = Message::copy(token, &original).expect("sendable");
            let copy = message.open(token);
            let (Value::Obj(a), Value::Obj(b)) = (&original, &copy) else { panic!("lists") };
            assert!(!a.ptr_eq(b), "the copy is a new object");
            assert!(original.equals(&copy).expect("comparable"));
            if let Obj::List(items) = b.get() {
                items.borrow_mut().push(Value::Int(3)).expect("room for one item");
            }
            assert!(
                !original.equals(&copy).expect("comparable"),
                "changing the copy leaves the original"
            );
        });
    }

    #[test]
    fn functions_threads_and_generators_are_refused_by_name() {
        let cases = [
            ("fn f() { return 1 }\nlet result = f", "cannot send a function"),
            ("let result = print", "cannot send a function"),
            ("fn g() { yield 1 }\nlet result = g()", "cannot send a generator"),
            (
                "fn w() { return 1 }\nlet t = spawn(w)\njoin(t)\nlet result = t",
                "cannot send a thread",
            ),
        ];
        for (source, expected) in cases {
            let error = message_of(source).expect_err(source);
            assert!(error.message.starts_with(expected), "{source}: {}", error.message);
            assert!(
                error.message.contains("only nil, booleans, numbers, strings"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn a_refusal_says_where_the_part_sits() {
        let error = message_of("fn f() { return 1 }\nlet result = [1, {\"on_done\": f}]")
            .expect_err("a function inside is refused");
        assert!(error.message.contains(r#"(at value[1]["on_done"])"#), "{}", error.message);
    }

    #[test]
    fn a_list_that_contains_itself_is_refused() {
        let error =
            message_of("let result = [1]\npush(result, result)").expect_err("a cycle is refused");
        assert!(error.message.contains("a list that contains itself"), "{}", error.message);
        assert!(error.message.contains("(at value[1])"), "{}", error.message);
        let error = message_of("let result = {}\nresult[\"me\"] = [result]")
            .expect_err("a cycle through a map is refused");
        assert!(error.message.contains("a map that contains itself"), "{}", error.message);
    }

    #[test]
    fn shared_parts_are_copied_once_and_stay_shared() {
        // 40 levels of a list holding the level below twice: it prints as
        // 2^40 numbers but is 41 objects.
        let source = "let result = [1]\nfor i in range(40) { result = [result, result] }";
        let message = message_of(source).expect("a shared value can be sent");
        assert_eq!(message.objects(), 41);
        attach(|token| {
            let value = message.open(token);
            let Value::Obj(top) = &value else { panic!("a list") };
            let Obj::List(items) = top.get() else { panic!("a list") };
            let items = items.borrow();
            let (Some(Value::Obj(a)), Some(Value::Obj(b))) = (items.get(0), items.get(1)) else {
                panic!("lists")
            };
            assert!(a.ptr_eq(&b), "both halves are the same copied list");
        });
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let deep =
            format!("let result = 0\nfor i in range({}) {{ result = [result] }}", MAX_NESTING + 5);
        let error = message_of(&deep).expect_err("too deep");
        assert!(error.message.contains("nested more than"), "{}", error.message);
        let fine =
            format!("let result = 0\nfor i in range({}) {{ result = [result] }}", MAX_NESTING - 1);
        message_of(&fine).expect("within the limit");
    }

    #[test]
    fn opening_and_dropping_a_message_leaves_no_objects() {
        let message =
            message_of(r#"let result = {"k": ["a", "b", [1.5]], "n": nil}"#).expect("plain");
        attach(|token| {
            let before = live_objects();
            let value = message.clone().open(token);
            assert!(live_objects() > before);
            drop(value);
            assert_eq!(live_objects(), before, "every rebuilt object is freed with the value");
        });
    }

    #[test]
    fn a_message_opens_on_another_thread() {
        let message = message_of(r#"let result = ["from", {"the": "other"}, 1]"#).expect("plain");
        let text = std::thread::spawn(move || shown(message)).join().expect("no panic");
        assert_eq!(text, r#"["from", {"the": "other"}, 1]"#);
    }
}
