//! `orm-cache`: the caching layer under `orm-core`. It knows nothing of
//! entities or sessions; it caches SQL (and, by its second issue, rows).
//!
//! * [`template`]: compiled SQL templates. A statement is compiled once per
//!   *shape* of its arguments into text split at its parameter slots; binding
//!   fills the slots, expands list slots into as many placeholders as the
//!   list has values, numbers PostgreSQL placeholders, pads lists to a few
//!   lengths, and splits lists longer than the bind limit.
//! * [`template::TemplateCache`]: the bounded, concurrent cache of templates
//!   with its safety modes and statistics.
//!
//! Still to come (its own issue): result-cache regions (memory, Redis), the
//! dogpile lock, invalidation.

pub mod template;
