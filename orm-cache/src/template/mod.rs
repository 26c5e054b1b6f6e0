//! Compiled SQL templates with expanding list slots.
//!
//! A [`Template`] is SQL text split at its parameter slots. A slot is either
//! a scalar (one placeholder) or a *list* that sits inside `IN ( ... )`: bound
//! to a list of n values it becomes n placeholders, with the parameters
//! flattened in order. Templates are stored *unnumbered*; PostgreSQL's `$n`
//! are written at bind time, so an expanding list never re-renders the rest.
//!
//! ## Compiling
//!
//! The caller renders its statement once with a *marker* in place of every
//! argument (any SQL builder: the ORM uses sea-query) and hands the text and
//! the markers' order to [`Template::compile`], which finds the placeholders
//! (skipping quoted identifiers and string literals) and records which
//! argument each one is. A list argument is rendered with a single marker
//! inside its `IN (...)`.
//!
//! ## Binding
//!
//! * Lists are padded (see [`Padding`]) by repeating their last value, never
//!   with NULL (`x NOT IN (..., NULL)` matches no row), so a server's
//!   prepared-statement cache sees a handful of lengths, not one per length.
//! * An empty list is a different shape (the predicate becomes constant),
//!   compiled separately by the caller; binding an empty list to a list slot
//!   is refused.
//! * [`Template::bind_split`] splits the longest list when the parameters
//!   would exceed a backend's bind limit; the caller runs every statement and
//!   combines the results (meaningful for `IN`, which is a union; the caller
//!   must not split `NOT IN`).

use std::sync::Arc;

use parking_lot::Mutex;

mod cache;
mod shape;

pub use cache::{Cached, Mode, Resolved, TemplateCache, TemplateStats};
pub use shape::ShapeKey;

/// How a backend writes placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholders {
    /// `?` (SQLite, MySQL).
    Question,
    /// `$1, $2, ...` (PostgreSQL).
    Dollar,
}

/// How bound lists are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Exactly as many placeholders as values.
    None,
    /// Up to the next power of two (1, 2, 4, 8, ...): at most ~17 statement
    /// texts per shape up to a 65,535 bind limit.
    PowerOfTwo,
}

impl Padding {
    /// The number of parameters `args` bind to: one per scalar, the padded
    /// length of each list.
    pub fn params<V>(self, args: &[Arg<V>]) -> usize {
        args.iter()
            .map(|a| match a {
                Arg::Scalar(_) => 1,
                Arg::List(v) => self.slots(v.len()),
            })
            .sum()
    }

    /// The number of placeholders for a list of `n` values.
    pub fn slots(self, n: usize) -> usize {
        match self {
            Padding::None => n,
            Padding::PowerOfTwo => n.next_power_of_two(),
        }
    }
}

/// An argument of a statement: one value, or a list for an `IN` slot.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<V> {
    /// One value for one placeholder.
    Scalar(V),
    /// Values for an expanding `IN` slot (as many placeholders as values).
    List(Vec<V>),
}

impl<V> Arg<V> {
    fn len(&self) -> usize {
        match self {
            Arg::Scalar(_) => 1,
            Arg::List(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A placeholder for argument `n` (a scalar).
    Scalar(usize),
    /// Placeholders for every value of list argument `n`.
    List(usize),
}

/// A compiled statement: SQL text split at its parameter slots, bound to
/// any values of its shape without rendering again.
///
/// ```
/// use orm_cache::template::{Arg, Padding, Placeholders, Template};
///
/// // Rendered once, one marker per argument; argument 1 is a list.
/// let sql = "SELECT id FROM t WHERE a = ? AND b IN (?)";
/// let t = Template::compile(sql, &[0, 1], &[false, true])?;
/// let args = [Arg::Scalar(7), Arg::List(vec![1, 2, 3])];
/// let bound = t.bind(Placeholders::Dollar, &args, Padding::None)?;
/// assert_eq!(&*bound.sql, "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3, $4)");
/// assert_eq!(bound.params, [7, 1, 2, 3]);
/// # Ok::<(), orm_cache::template::TemplateError>(())
/// ```
#[derive(Debug)]
pub struct Template {
    pieces: Vec<Piece>,
    /// Which arguments are lists, by argument index.
    lists: Vec<bool>,
    /// Length of the text without placeholders (to size the output).
    text_len: usize,
    /// Every argument appears once, in argument order (true of SELECT
    /// templates): a bind can move the arguments through in one pass.
    in_order: bool,
    /// Rendered texts by placeholder style and list sizes: with padding a
    /// template has a handful, so a bind usually only collects parameters
    /// and shares the text (measured: the text was most of a bind's cost).
    texts: Mutex<Vec<Rendered>>,
}

/// One rendered text: (style, placeholders per list in piece order, text).
type Rendered = (Placeholders, [usize; MEMO_LISTS], Arc<str>);

/// Texts are remembered for templates with at most this many lists...
const MEMO_LISTS: usize = 4;
/// ...and at most this many texts per template.
const MEMO_TEXTS: usize = 32;

impl Clone for Template {
    fn clone(&self) -> Self {
        Template {
            pieces: self.pieces.clone(),
            lists: self.lists.clone(),
            text_len: self.text_len,
            in_order: self.in_order,
            texts: Mutex::new(Vec::new()),
        }
    }
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.pieces == other.pieces && self.lists == other.lists
    }
}

impl Eq for Template {}

/// A statement ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound<V> {
    /// The SQL text, placeholders written for the dialect.
    pub sql: Arc<str>,
    /// The values, in placeholder order.
    pub params: Vec<V>,
}

/// Why a statement could not be compiled or bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The text has a different number of placeholders than markers given.
    PlaceholderCount {
        /// Placeholders in the text.
        found: usize,
        /// Markers given.
        markers: usize,
    },
    /// A marker names an argument that does not exist.
    NoSuchArgument(usize),
    /// Arguments do not match the template's shape.
    Shape(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::PlaceholderCount { found, markers } => {
                write!(
                    f,
                    "the SQL has {found} placeholders but {markers} markers were given"
                )
            }
            TemplateError::NoSuchArgument(n) => {
                write!(f, "marker for argument {n}, which does not exist")
            }
            TemplateError::Shape(s) => write!(f, "arguments do not fit the template: {s}"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Finds placeholders (`?` or `$n`) outside quoted identifiers and literals;
/// returns their byte ranges.
fn placeholders(sql: &str) -> Vec<(usize, usize)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        // A doubled quote is an escaped quote.
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'?' => {
                out.push((i, i + 1));
                i += 1;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                out.push((start, i));
            }
            _ => i += 1,
        }
    }
    out
}

impl Template {
    /// Compiles `sql`, rendered with one marker per placeholder: `markers[k]`
    /// is the argument index of the k-th placeholder, and `lists[n]` says
    /// whether argument n is a list (its single marker then stands for all
    /// its values).
    pub fn compile(
        sql: &str,
        markers: &[usize],
        lists: &[bool],
    ) -> Result<Template, TemplateError> {
        let found = placeholders(sql);
        if found.len() != markers.len() {
            return Err(TemplateError::PlaceholderCount {
                found: found.len(),
                markers: markers.len(),
            });
        }
        let mut pieces = Vec::with_capacity(found.len() * 2 + 1);
        let mut at = 0;
        let mut text_len = 0;
        for (&(start, end), &arg) in found.iter().zip(markers) {
            let is_list = *lists.get(arg).ok_or(TemplateError::NoSuchArgument(arg))?;
            if start > at {
                pieces.push(Piece::Text(sql[at..start].to_string()));
                text_len += start - at;
            }
            pieces.push(if is_list {
                Piece::List(arg)
            } else {
                Piece::Scalar(arg)
            });
            at = end;
        }
        if at < sql.len() {
            pieces.push(Piece::Text(sql[at..].to_string()));
            text_len += sql.len() - at;
        }
        let used = pieces.iter().filter_map(|p| match p {
            Piece::Scalar(n) | Piece::List(n) => Some(*n),
            Piece::Text(_) => None,
        });
        let in_order = used.eq(0..lists.len());
        Ok(Template {
            pieces,
            lists: lists.to_vec(),
            text_len,
            in_order,
            texts: Mutex::new(Vec::new()),
        })
    }

    /// The text for these arguments' list sizes (padded), from the memo or
    /// rendered (and remembered while there is room).
    fn text<V>(&self, style: Placeholders, args: &[Arg<V>], padding: Padding) -> Arc<str> {
        // Placeholders per list piece, in piece order.
        let slots = self.pieces.iter().filter_map(|p| match p {
            Piece::List(n) => Some(match &args[*n] {
                Arg::List(v) => padding.slots(v.len()),
                Arg::Scalar(_) => 1,
            }),
            _ => None,
        });
        let mut key = [0usize; MEMO_LISTS];
        let mut lists = 0;
        for n in slots.clone() {
            if let Some(k) = key.get_mut(lists) {
                *k = n;
            }
            lists += 1;
        }
        if lists > MEMO_LISTS {
            return self.render(style, &slots.collect::<Vec<_>>()).into();
        }
        let mut texts = self.texts.lock();
        if let Some((_, _, t)) = texts.iter().find(|(st, k, _)| *st == style && *k == key) {
            return t.clone();
        }
        let text: Arc<str> = self.render(style, &key[..lists]).into();
        if texts.len() < MEMO_TEXTS {
            texts.push((style, key, text.clone()));
        }
        text
    }

    fn render(&self, style: Placeholders, slots: &[usize]) -> String {
        let count = slots.iter().sum::<usize>() + self.pieces.len();
        let mut sql = String::with_capacity(self.text_len + count * 4);
        let mut n = 0;
        let mut lists = slots.iter();
        let mut placeholder = |sql: &mut String| {
            n += 1;
            match style {
                Placeholders::Question => sql.push('?'),
                Placeholders::Dollar => {
                    sql.push('$');
                    push_number(sql, n);
                }
            }
        };
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => sql.push_str(t),
                Piece::Scalar(_) => placeholder(&mut sql),
                Piece::List(_) => {
                    let k = lists.next().copied().unwrap_or(1);
                    for i in 0..k {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        placeholder(&mut sql);
                    }
                }
            }
        }
        sql
    }

    /// The number of arguments.
    pub fn arity(&self) -> usize {
        self.lists.len()
    }

    fn check<V>(&self, args: &[Arg<V>]) -> Result<(), TemplateError> {
        if args.len() != self.lists.len() {
            return Err(TemplateError::Shape(format!(
                "{} arguments for a template of {}",
                args.len(),
                self.lists.len()
            )));
        }
        for (n, (arg, &is_list)) in args.iter().zip(&self.lists).enumerate() {
            match (arg, is_list) {
                (Arg::Scalar(_), false) => {}
                (Arg::List(v), true) if !v.is_empty() => {}
                (Arg::List(_), true) => {
                    return Err(TemplateError::Shape(format!(
                        "argument {n} is an empty list"
                    )));
                }
                _ => {
                    return Err(TemplateError::Shape(format!(
                        "argument {n} is not of the template's kind"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Binds arguments: one statement.
    pub fn bind<V: Clone>(
        &self,
        style: Placeholders,
        args: &[Arg<V>],
        padding: Padding,
    ) -> Result<Bound<V>, TemplateError> {
        self.bind_owned(style, args.to_vec(), padding)
    }

    /// Like [`Template::bind`], but moves the argument values instead of
    /// cloning them (only padding repeats clone).
    pub fn bind_owned<V: Clone>(
        &self,
        style: Placeholders,
        args: Vec<Arg<V>>,
        padding: Padding,
    ) -> Result<Bound<V>, TemplateError> {
        self.check(&args)?;
        let sql = self.text(style, &args, padding);
        let mut params = Vec::with_capacity(padding.params(&args));
        let push = |params: &mut Vec<V>, arg: Arg<V>| match arg {
            Arg::Scalar(v) => params.push(v),
            Arg::List(values) => {
                let slots = padding.slots(values.len());
                let last = values.last().cloned().expect("checked non-empty");
                let pad = slots - values.len();
                params.extend(values);
                params.extend(std::iter::repeat_n(last, pad));
            }
        };
        if self.in_order {
            for arg in args {
                push(&mut params, arg);
            }
            return Ok(Bound { sql, params });
        }
        // Take each argument out once, in piece order (each appears once).
        let mut args: Vec<Option<Arg<V>>> = args.into_iter().map(Some).collect();
        for piece in &self.pieces {
            match piece {
                Piece::Text(_) => {}
                Piece::Scalar(n) | Piece::List(n) => {
                    match args.get_mut(*n).and_then(Option::take) {
                        Some(arg) => push(&mut params, arg),
                        None => {
                            return Err(TemplateError::Shape(format!("argument {n} used twice")));
                        }
                    }
                }
            }
        }
        Ok(Bound { sql, params })
    }

    /// Binds a template whose placeholders are scalar arguments 0, 1, 2 ...
    /// in order (statements compiled from a build with all-scalar
    /// parameters): the values are moved, not cloned.
    pub fn bind_in_order<V>(
        &self,
        style: Placeholders,
        values: Vec<V>,
    ) -> Result<Bound<V>, TemplateError> {
        if values.len() != self.lists.len() || self.lists.iter().any(|&l| l) {
            return Err(TemplateError::Shape(format!(
                "{} values for a template of {} scalar arguments",
                values.len(),
                self.lists.len()
            )));
        }
        let mut next = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Text(_) => {}
                Piece::Scalar(n) if *n == next => next += 1,
                _ => {
                    return Err(TemplateError::Shape(
                        "placeholders are not in argument order".into(),
                    ));
                }
            }
        }
        Ok(Bound {
            sql: self.text::<V>(style, &[], Padding::None),
            params: values,
        })
    }

    /// Binds arguments into as many statements as the bind `limit` requires,
    /// splitting the longest list. One statement when everything fits. The
    /// caller removes duplicates from the list first if the results of the
    /// statements are added up.
    pub fn bind_split<V: Clone>(
        &self,
        style: Placeholders,
        args: &[Arg<V>],
        padding: Padding,
        limit: usize,
    ) -> Result<Vec<Bound<V>>, TemplateError> {
        self.check(args)?;
        let total = padding.params(args);
        if total <= limit {
            return Ok(vec![self.bind(style, args, padding)?]);
        }
        // Padding must never be the reason to split: bind exactly if that fits.
        let exact = Padding::None.params(args);
        if exact <= limit {
            return Ok(vec![self.bind(style, args, Padding::None)?]);
        }
        let (longest, _) = args
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, Arg::List(_)))
            .max_by_key(|(_, a)| a.len())
            .ok_or_else(|| {
                TemplateError::Shape(format!("{total} parameters and no list to split"))
            })?;
        let fixed: usize = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != longest)
            .map(|(_, a)| a.len())
            .sum();
        if fixed >= limit {
            return Err(TemplateError::Shape(format!(
                "{fixed} parameters besides the longest list exceed the limit of {limit}"
            )));
        }
        // Room per statement for the split list, rounded down to a padding size.
        let room = limit - fixed;
        let chunk = match padding {
            Padding::None => room,
            Padding::PowerOfTwo => 1usize << (usize::BITS - 1 - room.leading_zeros()),
        };
        let Arg::List(values) = &args[longest] else {
            unreachable!("filtered to lists")
        };
        values
            .chunks(chunk)
            .map(|part| {
                let mut piece_args = args.to_vec();
                piece_args[longest] = Arg::List(part.to_vec());
                self.bind(style, &piece_args, padding)
            })
            .collect()
    }
}

fn push_number(sql: &mut String, n: usize) {
    use std::fmt::Write;
    let _ = write!(sql, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        // SELECT ... WHERE "a" = $1 AND "b" IN ($2) AND "c" = '?' LIMIT $3
        Template::compile(
            r#"SELECT "x?" FROM t WHERE "a" = $1 AND "b" IN ($2) AND "c" = '?''$1' LIMIT $3"#,
            &[0, 1, 2],
            &[false, true, false],
        )
        .unwrap()
    }

    #[test]
    fn texts_are_shared_per_style_and_list_size() {
        let t = template();
        let bind = |style, list: Vec<i32>, first: i32| {
            t.bind_owned(
                style,
                vec![Arg::Scalar(first), Arg::List(list), Arg::Scalar(9)],
                Padding::PowerOfTwo,
            )
            .unwrap()
        };
        let a = bind(Placeholders::Dollar, vec![2, 3, 4], 1);
        let b = bind(Placeholders::Dollar, vec![5, 6, 7, 8], 2);
        // Same padded size: one text, shared; values differ.
        assert!(Arc::ptr_eq(&a.sql, &b.sql));
        assert_eq!(a.params, vec![1, 2, 3, 4, 4, 9]);
        assert_eq!(b.params, vec![2, 5, 6, 7, 8, 9]);
        // Another size or another style: another text, right numbering.
        let c = bind(Placeholders::Dollar, vec![2], 1);
        assert!(c.sql.contains(r#""b" IN ($2) AND"#), "{}", c.sql);
        assert!(c.sql.ends_with("LIMIT $3"));
        let d = bind(Placeholders::Question, vec![2, 3, 4], 1);
        assert!(d.sql.contains(r#""b" IN (?, ?, ?, ?) AND"#), "{}", d.sql);
        assert_eq!(t.texts.lock().len(), 3);
    }

    #[test]
    fn quoted_question_marks_are_not_placeholders() {
        assert_eq!(
            placeholders(r#"SELECT "a?", 'b?', `c?` WHERE d = ?"#).len(),
            1
        );
        assert_eq!(placeholders("WHERE a = $1 AND b = $12").len(), 2);
    }

    #[test]
    fn lists_expand_and_numbers_follow() {
        let t = template();
        let b = t
            .bind(
                Placeholders::Dollar,
                &[Arg::Scalar(1), Arg::List(vec![2, 3, 4]), Arg::Scalar(9)],
                Padding::None,
            )
            .unwrap();
        assert_eq!(
            &*b.sql,
            r#"SELECT "x?" FROM t WHERE "a" = $1 AND "b" IN ($2, $3, $4) AND "c" = '?''$1' LIMIT $5"#
        );
        assert_eq!(b.params, [1, 2, 3, 4, 9]);
        let q = t
            .bind(
                Placeholders::Question,
                &[Arg::Scalar(1), Arg::List(vec![2, 3, 4]), Arg::Scalar(9)],
                Padding::PowerOfTwo,
            )
            .unwrap();
        assert!(q.sql.contains(r#""b" IN (?, ?, ?, ?)"#), "{}", q.sql);
        assert_eq!(
            q.params,
            [1, 2, 3, 4, 4, 9],
            "padded by repeating the last value"
        );
    }

    #[test]
    fn owned_binding_matches_cloning_binding() {
        let t = template();
        let args = vec![Arg::Scalar(1), Arg::List(vec![2, 3, 4]), Arg::Scalar(9)];
        for padding in [Padding::None, Padding::PowerOfTwo] {
            for style in [Placeholders::Dollar, Placeholders::Question] {
                assert_eq!(
                    t.bind(style, &args, padding).unwrap(),
                    t.bind_owned(style, args.clone(), padding).unwrap()
                );
            }
        }
    }

    #[test]
    fn in_order_binding_moves_values() {
        let t = Template::compile(
            "UPDATE t SET a = $1 WHERE k = $2 AND v = $3",
            &[0, 1, 2],
            &[false; 3],
        )
        .unwrap();
        let b = t
            .bind_in_order(Placeholders::Dollar, vec![7, 8, 9])
            .unwrap();
        assert_eq!(&*b.sql, "UPDATE t SET a = $1 WHERE k = $2 AND v = $3");
        assert_eq!(b.params, [7, 8, 9]);
        assert!(t.bind_in_order(Placeholders::Question, vec![1]).is_err());
        let shuffled = Template::compile("a = ? AND b = ?", &[1, 0], &[false; 2]).unwrap();
        assert!(
            shuffled
                .bind_in_order(Placeholders::Question, vec![1, 2])
                .is_err()
        );
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let t = template();
        assert!(
            t.bind(
                Placeholders::Question,
                &[Arg::Scalar(1), Arg::Scalar(2), Arg::Scalar(3)],
                Padding::None
            )
            .is_err()
        );
        assert!(
            t.bind(
                Placeholders::Question,
                &[Arg::Scalar(1), Arg::List(vec![]), Arg::Scalar(3)],
                Padding::None
            )
            .is_err()
        );
        assert!(matches!(
            Template::compile("a = ? AND b = ?", &[0], &[false]),
            Err(TemplateError::PlaceholderCount {
                found: 2,
                markers: 1
            })
        ));
    }

    #[test]
    fn long_lists_split_under_the_limit() {
        let t = template();
        let values: Vec<i32> = (0..100).collect();
        let parts = t
            .bind_split(
                Placeholders::Dollar,
                &[Arg::Scalar(-1), Arg::List(values), Arg::Scalar(-2)],
                Padding::PowerOfTwo,
                34,
            )
            .unwrap();
        // 32 per statement (the power of two under 34 - 2).
        assert_eq!(parts.len(), 4);
        assert!(parts.iter().all(|p| p.params.len() <= 34));
        let mut seen: Vec<i32> = parts
            .iter()
            .flat_map(|p| p.params[1..p.params.len() - 1].to_vec())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
