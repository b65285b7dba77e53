//! The device filter language: a small hand-written parser (never an `eval`), run once when a
//! policy set is compiled, and a three-valued evaluator.
//!
//! ```text
//! expr  := or
//! or    := and ("||" and)*
//! and   := unary ("&&" unary)*
//! unary := "!" unary | "(" expr ")" | cmp
//! cmp   := attr ("==" | "!=") value
//!        | attr ("in" | "not in") "[" value ("," value)* "]"
//!        | attr ("startsWith" | "contains") string
//! value := string | true | false        string := "..." with \" and \\ escapes
//! ```
//!
//! Positions in errors are 1-based character positions in the rule.
//!
//! Evaluation is three-valued (Kleene): a comparison on an attribute the device did not report
//! (or on any attribute when no device is known) is *unknown*; `!unknown` is unknown; `&&` is
//! false if any side is false, `||` is true if any side is true. The caller only treats a
//! definite `true` as a match, so a missing signal can neither include a request in a policy
//! (mode `include`) nor exclude it (mode `exclude`).

use super::context::DeviceSignals;
use super::model::DevicePlatform;

/// Longest rule accepted, in characters.
pub const MAX_RULE_LEN: usize = 2048;
/// Deepest nesting of `(` and `!` accepted.
pub const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("rule is {len} characters long; at most {MAX_RULE_LEN} are allowed")]
    TooLong { len: usize },
    #[error("rule nests deeper than {MAX_NESTING} levels at character {position}")]
    TooDeep { position: usize },
    #[error("expected {expected} at character {position}, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
        position: usize,
    },
    #[error("unterminated string starting at character {position}")]
    UnterminatedString { position: usize },
    #[error(
        "invalid escape \"\\{escape}\" at character {position} (only \\\" and \\\\ are allowed)"
    )]
    InvalidEscape { escape: char, position: usize },
    #[error("unknown device attribute \"{name}\" at character {position}")]
    UnknownAttribute { name: String, position: usize },
    #[error("type error at character {position}: {message}")]
    Type { message: String, position: usize },
    #[error(
        "invalid value \"{value}\" for {attribute} at character {position}; expected one of {allowed}"
    )]
    InvalidValue {
        attribute: &'static str,
        value: String,
        allowed: &'static str,
        position: usize,
    },
}

impl FilterError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            FilterError::TooLong { .. } => "filter_too_long",
            FilterError::TooDeep { .. } => "filter_too_deep",
            FilterError::Expected { .. }
            | FilterError::UnterminatedString { .. }
            | FilterError::InvalidEscape { .. } => "filter_syntax",
            FilterError::UnknownAttribute { .. } => "filter_unknown_attribute",
            FilterError::Type { .. } => "filter_type",
            FilterError::InvalidValue { .. } => "filter_invalid_value",
        }
    }
}

/// A device attribute usable in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    DeviceId,
    DisplayName,
    Platform,
    OsVersion,
    TrustType,
    IsCompliant,
    IsManaged,
    Manufacturer,
    Model,
    /// 1..=15
    ExtensionAttribute(u8),
}

impl Attr {
    fn parse(name: &str) -> Option<Attr> {
        let rest = name.strip_prefix("device.")?;
        Some(match rest {
            "device_id" => Attr::DeviceId,
            "display_name" => Attr::DisplayName,
            "platform" => Attr::Platform,
            "os_version" => Attr::OsVersion,
            "trust_type" => Attr::TrustType,
            "is_compliant" => Attr::IsCompliant,
            "is_managed" => Attr::IsManaged,
            "manufacturer" => Attr::Manufacturer,
            "model" => Attr::Model,
            _ => {
                let n = rest.strip_prefix("extension_attribute")?;
                if n.starts_with('0') {
                    return None;
                }
                let n: u8 = n.parse().ok()?;
                if !(1..=15).contains(&n) {
                    return None;
                }
                Attr::ExtensionAttribute(n)
            }
        })
    }

    fn is_bool(self) -> bool {
        matches!(self, Attr::IsCompliant | Attr::IsManaged)
    }

    /// The allowed values of an enumerated attribute.
    fn allowed(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Attr::Platform => Some((
                "device.platform",
                &["android", "ios", "windows", "macos", "linux"],
            )),
            Attr::TrustType => Some(("device.trust_type", &["registered", "managed"])),
            _ => None,
        }
    }

    fn string_value(self, d: &DeviceSignals) -> Option<&str> {
        match self {
            Attr::DeviceId => d.device_id.as_deref(),
            Attr::DisplayName => d.display_name.as_deref(),
            Attr::Platform => d.platform.map(DevicePlatform::as_str),
            Attr::OsVersion => d.os_version.as_deref(),
            Attr::TrustType => d.trust_type.map(|t| t.as_str()),
            Attr::Manufacturer => d.manufacturer.as_deref(),
            Attr::Model => d.model.as_deref(),
            Attr::ExtensionAttribute(n) => d
                .extension_attributes
                .get(usize::from(n).saturating_sub(1))
                .and_then(|v| v.as_deref()),
            Attr::IsCompliant | Attr::IsManaged => None,
        }
    }

    fn bool_value(self, d: &DeviceSignals) -> Option<bool> {
        match self {
            Attr::IsCompliant => Some(d.compliant),
            Attr::IsManaged => Some(d.managed),
            _ => None,
        }
    }
}

/// A compiled comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cmp {
    EqStr(String),
    NeStr(String),
    EqBool(bool),
    NeBool(bool),
    In(Vec<String>),
    NotIn(Vec<String>),
    StartsWith(String),
    Contains(String),
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Attr, Cmp),
}

impl Expr {
    /// Three-valued evaluation: `Some(true)`, `Some(false)`, or `None` (unknown).
    pub fn eval(&self, device: Option<&DeviceSignals>) -> Option<bool> {
        match self {
            Expr::Or(items) => {
                let mut unknown = false;
                for e in items {
                    match e.eval(device) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
                if unknown { None } else { Some(false) }
            }
            Expr::And(items) => {
                let mut unknown = false;
                for e in items {
                    match e.eval(device) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => unknown = true,
                    }
                }
                if unknown { None } else { Some(true) }
            }
            Expr::Not(e) => e.eval(device).map(|v| !v),
            Expr::Cmp(attr, cmp) => {
                let d = device?;
                match cmp {
                    Cmp::EqBool(b) => attr.bool_value(d).map(|v| v == *b),
                    Cmp::NeBool(b) => attr.bool_value(d).map(|v| v != *b),
                    Cmp::EqStr(s) => attr.string_value(d).map(|v| v == s),
                    Cmp::NeStr(s) => attr.string_value(d).map(|v| v != s),
                    Cmp::In(list) => attr.string_value(d).map(|v| list.iter().any(|s| s == v)),
                    Cmp::NotIn(list) => attr.string_value(d).map(|v| list.iter().all(|s| s != v)),
                    Cmp::StartsWith(s) => attr.string_value(d).map(|v| v.starts_with(s.as_str())),
                    Cmp::Contains(s) => attr.string_value(d).map(|v| v.contains(s.as_str())),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    EqEq,
    NotEq,
    AndAnd,
    OrOr,
    Bang,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::EqEq => "\"==\"".into(),
            Tok::NotEq => "\"!=\"".into(),
            Tok::AndAnd => "\"&&\"".into(),
            Tok::OrOr => "\"||\"".into(),
            Tok::Bang => "\"!\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::End => "end of rule".into(),
        }
    }
}

/// Tokens with their 1-based character positions.
fn lex(rule: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let chars: Vec<char> = rule.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        let next = chars.get(i + 1).copied();
        let two = |t: Tok| (t, 2);
        let (tok, len) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('=', Some('=')) => two(Tok::EqEq),
            ('!', Some('=')) => two(Tok::NotEq),
            ('&', Some('&')) => two(Tok::AndAnd),
            ('|', Some('|')) => two(Tok::OrOr),
            ('!', _) => (Tok::Bang, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            ('"', _) => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(FilterError::UnterminatedString { position: pos }),
                        Some('"') => break,
                        Some('\\') => match chars.get(j + 1) {
                            Some(e @ ('"' | '\\')) => {
                                s.push(*e);
                                j += 2;
                            }
                            Some(e) => {
                                return Err(FilterError::InvalidEscape {
                                    escape: *e,
                                    position: j + 1,
                                });
                            }
                            None => {
                                return Err(FilterError::UnterminatedString { position: pos });
                            }
                        },
                        Some(c) => {
                            s.push(*c);
                            j += 1;
                        }
                    }
                }
                (Tok::Str(s), j + 1 - i)
            }
            (c, _) if c.is_ascii_alphanumeric() || c == '_' => {
                let mut j = i;
                while chars
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                {
                    j += 1;
                }
                (Tok::Word(chars[i..j].iter().collect()), j - i)
            }
            (c, _) => {
                return Err(FilterError::Expected {
                    expected: "an attribute, an operator, a value or a parenthesis",
                    found: format!("\"{c}\""),
                    position: pos,
                });
            }
        };
        out.push((tok, pos));
        i += len;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
}

enum Value {
    Str(String),
    Bool(bool),
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.at).map_or(&Tok::End, |t| &t.0)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(0, |t| t.1)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.at < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn expected(&self, expected: &'static str) -> FilterError {
        FilterError::Expected {
            expected,
            found: self.peek().describe(),
            position: self.pos(),
        }
    }

    fn expect(&mut self, tok: Tok, expected: &'static str) -> Result<(), FilterError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.and()?];
        while *self.peek() == Tok::OrOr {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary()?];
        while *self.peek() == Tok::AndAnd {
            self.bump();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.peek() {
            Tok::Bang | Tok::LParen => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(FilterError::TooDeep {
                        position: self.pos(),
                    });
                }
                let e = if self.bump() == Tok::Bang {
                    Expr::Not(Box::new(self.unary()?))
                } else {
                    let e = self.or()?;
                    self.expect(Tok::RParen, "\")\" or an operator (\"&&\", \"||\")")?;
                    e
                };
                self.depth -= 1;
                Ok(e)
            }
            _ => self.cmp(),
        }
    }

    /// `cmp`: an attribute, an operator and the operand that operator takes.
    fn cmp(&mut self) -> Result<Expr, FilterError> {
        let pos = self.pos();
        let Tok::Word(name) = self.peek().clone() else {
            return Err(self.expected("a device attribute, \"!\" or \"(\""));
        };
        let attr = Attr::parse(&name).ok_or(FilterError::UnknownAttribute {
            name: name.clone(),
            position: pos,
        })?;
        self.bump();
        let op_pos = self.pos();
        let op = self.operator()?;
        let c = Comparison {
            attr,
            name: &name,
            op,
            op_pos,
        };
        let cmp = match op {
            "==" | "!=" => self.equality(&c)?,
            "in" | "not in" => self.membership(&c)?,
            _ => self.substring(&c)?,
        };
        Ok(Expr::Cmp(attr, cmp))
    }

    /// The comparison operator after an attribute.
    fn operator(&mut self) -> Result<&'static str, FilterError> {
        Ok(match self.bump() {
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Word(w) if w == "in" => "in",
            Tok::Word(w) if w == "not" => match self.bump() {
                Tok::Word(w) if w == "in" => "not in",
                _ => {
                    self.at -= 1;
                    return Err(self.expected("\"in\" after \"not\""));
                }
            },
            Tok::Word(w) if w == "startsWith" => "startsWith",
            Tok::Word(w) if w == "contains" => "contains",
            _ => {
                self.at -= 1;
                return Err(self.expected(
                    "an operator (\"==\", \"!=\", \"in\", \"not in\", \"startsWith\", \"contains\")",
                ));
            }
        })
    }

    /// The value of `==` or `!=`: a boolean for a boolean attribute, else an allowed string.
    fn equality(&mut self, c: &Comparison) -> Result<Cmp, FilterError> {
        let (v, vpos) = self.value()?;
        match (v, c.attr.is_bool()) {
            (Value::Bool(b), true) => Ok(if c.op == "==" {
                Cmp::EqBool(b)
            } else {
                Cmp::NeBool(b)
            }),
            (Value::Str(s), false) => {
                check_allowed(c.attr, &s, vpos)?;
                Ok(if c.op == "==" {
                    Cmp::EqStr(s)
                } else {
                    Cmp::NeStr(s)
                })
            }
            (Value::Str(_), true) => Err(c.type_error(format!(
                "{} is a boolean and cannot be compared to a string",
                c.name
            ))),
            (Value::Bool(_), false) => Err(c.type_error(format!(
                "{} is a string and cannot be compared to a boolean",
                c.name
            ))),
        }
    }

    /// The list of `in` or `not in`: `[` allowed strings separated by `,` `]`, for a string
    /// attribute.
    fn membership(&mut self, c: &Comparison) -> Result<Cmp, FilterError> {
        c.string_only()?;
        self.expect(Tok::LBracket, "\"[\"")?;
        let mut list = Vec::new();
        loop {
            let (v, vpos) = self.value()?;
            let Value::Str(s) = v else {
                return Err(FilterError::Type {
                    message: format!("{} is a string; list values must be strings", c.name),
                    position: vpos,
                });
            };
            check_allowed(c.attr, &s, vpos)?;
            list.push(s);
            match self.bump() {
                Tok::Comma => {}
                Tok::RBracket => break,
                _ => {
                    self.at -= 1;
                    return Err(self.expected("\",\" or \"]\""));
                }
            }
        }
        Ok(if c.op == "in" {
            Cmp::In(list)
        } else {
            Cmp::NotIn(list)
        })
    }

    /// The string of `startsWith` or `contains`, for a string attribute.
    fn substring(&mut self, c: &Comparison) -> Result<Cmp, FilterError> {
        c.string_only()?;
        let Tok::Str(s) = self.peek().clone() else {
            return Err(self.expected("a string"));
        };
        self.bump();
        Ok(if c.op == "startsWith" {
            Cmp::StartsWith(s)
        } else {
            Cmp::Contains(s)
        })
    }

    fn value(&mut self) -> Result<(Value, usize), FilterError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok((Value::Str(s), pos))
            }
            Tok::Word(w) if w == "true" || w == "false" => {
                self.bump();
                Ok((Value::Bool(w == "true"), pos))
            }
            _ => Err(self.expected("a value (a string in double quotes, true or false)")),
        }
    }
}

/// A comparison being parsed, up to its operator: the attribute (and its name as written),
/// the operator and the operator's position (where type errors point).
struct Comparison<'a> {
    attr: Attr,
    name: &'a str,
    op: &'static str,
    op_pos: usize,
}

impl Comparison<'_> {
    fn type_error(&self, message: String) -> FilterError {
        FilterError::Type {
            message,
            position: self.op_pos,
        }
    }

    /// An operator only defined for string attributes (`in`, `not in`, `startsWith`,
    /// `contains`) refuses a boolean one.
    fn string_only(&self) -> Result<(), FilterError> {
        if self.attr.is_bool() {
            return Err(self.type_error(format!(
                "\"{}\" is not defined for the boolean {}; use == or !=",
                self.op, self.name
            )));
        }
        Ok(())
    }
}

fn check_allowed(attr: Attr, value: &str, position: usize) -> Result<(), FilterError> {
    match attr.allowed() {
        Some((attribute, allowed)) if !allowed.contains(&value) => Err(FilterError::InvalidValue {
            attribute,
            value: value.to_string(),
            allowed: if attr == Attr::Platform {
                "android, ios, windows, macos, linux"
            } else {
                "registered, managed"
            },
            position,
        }),
        _ => Ok(()),
    }
}

/// Parses a rule (once, when the policy set is compiled).
pub fn parse(rule: &str) -> Result<Expr, FilterError> {
    let len = rule.chars().count();
    if len > MAX_RULE_LEN {
        return Err(FilterError::TooLong { len });
    }
    let mut p = Parser {
        toks: lex(rule)?,
        at: 0,
        depth: 0,
    };
    let e = p.or()?;
    if *p.peek() != Tok::End {
        return Err(p.expected("\"&&\", \"||\" or the end of the rule"));
    }
    Ok(e)
}
