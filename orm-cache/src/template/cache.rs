//! [`TemplateCache`]: templates by shape, bounded, shared across threads.
//!
//! Backed by `quick_cache` (sharded, with CLOCK-Pro style eviction): a hit
//! takes one shard's read lock, never a global one, and returns an
//! `Arc<Template>`. The cache holds the *policy* too (is caching on, which
//! safety mode) and the statistics; building a statement the plain way to
//! verify a template is the caller's job, since only the caller knows how.
//!
//! ## Safety modes
//!
//! * [`Mode::Off`]: no caching; every statement is built fresh.
//! * [`Mode::VerifyOnStore`] (default): the first build of each shape is
//!   also built the plain way and compared; on a mismatch the shape is
//!   marked uncacheable (built fresh from then on), logged, and counted.
//! * [`Mode::Paranoid`]: every call is compared; a mismatch is an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};

use super::{ShapeKey, Template};

/// How much the cache checks its templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No templates: every statement is built the plain way.
    Off,
    /// A new template is checked once, against a plain build, before it is
    /// stored; a template that differs is never stored (the default).
    VerifyOnStore,
    /// As `VerifyOnStore`, and every use is checked again: a difference is
    /// an error (for tests and debugging; it costs a plain build per use).
    Paranoid,
}

/// Counters of a [`TemplateCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateStats {
    /// Statements served from a cached template.
    pub hits: u64,
    /// Shapes looked up and not found (then compiled).
    pub misses: u64,
    /// Shapes currently cached.
    pub shapes: u64,
    /// Templates dropped to keep the cache within its capacity.
    pub evictions: u64,
    /// Templates that differed from a plain build (on store, or on use in
    /// paranoid mode).
    pub verify_failures: u64,
}

/// What [`TemplateCache::resolve`] gives the caller.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A cached template (verified when stored, and now in paranoid mode).
    Hit(Arc<Template>),
    /// A template compiled and verified now, and stored.
    Stored(Arc<Template>),
    /// Build this statement the plain way (caching off, or the shape is
    /// uncacheable).
    Fresh,
    /// Its template just failed verification on store: not stored, the
    /// shape is uncacheable from now on (counted); build it the plain way.
    Rejected,
    /// Paranoid mode: the template and a plain build differ (counted).
    Mismatch,
}

/// What the cache holds for a shape.
#[derive(Debug, Clone)]
pub enum Cached {
    /// A verified template.
    Template(Arc<Template>),
    /// Verification failed once: always build this shape fresh.
    Uncacheable,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    verify_failures: AtomicU64,
}

#[derive(Debug, Clone)]
struct CountEvictions(Arc<Counters>);

impl Lifecycle<ShapeKey, Cached> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _key: ShapeKey, _val: Cached) {
        self.0.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

/// A bounded, concurrent cache of compiled templates.
pub struct TemplateCache {
    cache: Cache<ShapeKey, Cached, UnitWeighter, DefaultHashBuilder, CountEvictions>,
    counters: Arc<Counters>,
    mode: AtomicU8,
    enabled: AtomicBool,
}

impl std::fmt::Debug for TemplateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateCache")
            .field("mode", &self.mode())
            .field("stats", &self.stats())
            .finish()
    }
}

impl TemplateCache {
    /// A cache of at most `capacity` shapes.
    pub fn new(capacity: usize, mode: Mode) -> TemplateCache {
        let counters = Arc::new(Counters::default());
        TemplateCache {
            cache: Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                DefaultHashBuilder::default(),
                CountEvictions(counters.clone()),
            ),
            counters,
            mode: AtomicU8::new(mode as u8),
            enabled: AtomicBool::new(mode != Mode::Off),
        }
    }

    /// The safety mode.
    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Relaxed) {
            0 => Mode::Off,
            1 => Mode::VerifyOnStore,
            _ => Mode::Paranoid,
        }
    }

    /// Changes the safety mode at run time (`Off` also disables caching).
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
        self.enabled.store(mode != Mode::Off, Ordering::Relaxed);
    }

    /// Turns caching off (or back on) for every statement, keeping the mode.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether templates are used now (switched on and the mode is not `Off`).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed) && self.mode() != Mode::Off
    }

    /// The template for `key`, by the one protocol every statement kind
    /// follows:
    ///
    /// * caching off: [`Resolved::Fresh`];
    /// * a hit: the template; in [`Mode::Paranoid`] only if `matches` says
    ///   it binds to what a plain build writes, else [`Resolved::Mismatch`];
    /// * a shape marked uncacheable: [`Resolved::Fresh`];
    /// * a miss: `compile`s a template and checks it with `matches` before
    ///   storing it (every mode that caches verifies on store); a template
    ///   that does not match is never stored, the shape is marked
    ///   uncacheable (counted), and the caller builds fresh
    ///   ([`Resolved::Rejected`], which it logs; in paranoid mode
    ///   [`Resolved::Mismatch`]).
    ///
    /// `matches` builds the statement the plain way and compares it with
    /// what the template binds for the same arguments.
    pub fn resolve<E>(
        &self,
        key: &ShapeKey,
        compile: impl FnOnce() -> Result<Template, E>,
        matches: impl Fn(&Template) -> bool,
    ) -> Result<Resolved, E> {
        if !self.enabled() {
            return Ok(Resolved::Fresh);
        }
        let paranoid = self.mode() == Mode::Paranoid;
        match self.get(key) {
            Some(Cached::Template(t)) => {
                if paranoid && !matches(&t) {
                    self.count_verify_failure();
                    return Ok(Resolved::Mismatch);
                }
                Ok(Resolved::Hit(t))
            }
            Some(Cached::Uncacheable) => Ok(Resolved::Fresh),
            None => {
                let t = Arc::new(compile()?);
                if !matches(&t) {
                    self.mark_uncacheable(key.clone());
                    return Ok(if paranoid {
                        Resolved::Mismatch
                    } else {
                        Resolved::Rejected
                    });
                }
                self.insert(key.clone(), t.clone());
                Ok(Resolved::Stored(t))
            }
        }
    }

    /// What is cached for `key`, counting a hit or a miss.
    pub fn get(&self, key: &ShapeKey) -> Option<Cached> {
        let found = self.cache.get(key);
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a verified template.
    pub fn insert(&self, key: ShapeKey, template: Arc<Template>) {
        self.cache.insert(key, Cached::Template(template));
    }

    /// Records a verification failure; the shape is built fresh from now on.
    pub fn mark_uncacheable(&self, key: ShapeKey) {
        self.counters
            .verify_failures
            .fetch_add(1, Ordering::Relaxed);
        self.cache.insert(key, Cached::Uncacheable);
    }

    /// Counts a verification failure without changing the cache (paranoid mode).
    pub fn count_verify_failure(&self) {
        self.counters
            .verify_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets every template (statistics are kept).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// The counters since the cache was made.
    pub fn stats(&self) -> TemplateStats {
        let c = &self.counters;
        TemplateStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            shapes: self.cache.len() as u64,
            evictions: c.evictions.load(Ordering::Relaxed),
            verify_failures: c.verify_failures.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> ShapeKey {
        let mut k = ShapeKey::new();
        k.number(n);
        k
    }

    #[test]
    fn bounded_with_evictions_counted() {
        let cache = TemplateCache::new(8, Mode::VerifyOnStore);
        let t = Arc::new(Template::compile("SELECT ?", &[0], &[false]).unwrap());
        for n in 0..100 {
            cache.insert(key(n), t.clone());
        }
        let stats = cache.stats();
        assert!(stats.shapes <= 8, "{stats:?}");
        assert!(stats.evictions >= 90, "{stats:?}");
    }

    #[test]
    fn hits_and_misses() {
        let cache = TemplateCache::new(8, Mode::VerifyOnStore);
        assert!(cache.get(&key(1)).is_none());
        cache.insert(
            key(1),
            Arc::new(Template::compile("SELECT 1", &[], &[]).unwrap()),
        );
        assert!(matches!(cache.get(&key(1)), Some(Cached::Template(_))));
        cache.mark_uncacheable(key(2));
        assert!(matches!(cache.get(&key(2)), Some(Cached::Uncacheable)));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.verify_failures), (2, 1, 1));
    }

    #[test]
    fn modes_switch_at_run_time() {
        let cache = TemplateCache::new(8, Mode::Paranoid);
        assert!(cache.enabled());
        cache.set_enabled(false);
        assert!(!cache.enabled());
        cache.set_enabled(true);
        cache.set_mode(Mode::Off);
        assert!(!cache.enabled());
    }
}

#[cfg(test)]
mod concurrency {
    use super::*;
    use crate::template::{Arg, Padding, Placeholders};

    /// 16 threads share one cache: every thread sees correct templates, and
    /// the counters add up.
    #[test]
    fn sixteen_threads_hammering_one_cache() {
        let cache = Arc::new(TemplateCache::new(64, Mode::VerifyOnStore));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000u64 {
                        let shape = (i + t) % 100; // more shapes than capacity: evictions too
                        let mut key = ShapeKey::new();
                        key.number(shape);
                        let template = match cache.get(&key) {
                            Some(Cached::Template(tpl)) => tpl,
                            _ => {
                                let sql = format!("SELECT {shape} WHERE a IN (?)");
                                let tpl = Arc::new(Template::compile(&sql, &[0], &[true]).unwrap());
                                cache.insert(key, tpl.clone());
                                tpl
                            }
                        };
                        let bound = template
                            .bind(
                                Placeholders::Question,
                                &[Arg::List(vec![1, 2, 3])],
                                Padding::PowerOfTwo,
                            )
                            .unwrap();
                        assert_eq!(
                            &*bound.sql,
                            format!("SELECT {shape} WHERE a IN (?, ?, ?, ?)").as_str()
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread panicked");
        }
        let s = cache.stats();
        assert_eq!(s.hits + s.misses, 16 * 2_000);
        assert!(s.shapes <= 64 && s.evictions > 0, "{s:?}");
    }
}
