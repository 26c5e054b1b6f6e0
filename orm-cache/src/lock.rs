//! The in-process half of the dogpile lock: one computation per key.
//!
//! When a cached value is missing, the first caller for a key becomes its
//! [`Leader`] and computes it; every other caller in the process that
//! arrives meanwhile becomes a follower and waits for the leader's bytes
//! instead of running the query again. The leader's life is the lock: if it
//! fails or is dropped (an error, a cancelled future) without publishing,
//! its followers wake up at once and one of them leads the next attempt, so
//! nobody waits on a computation that no longer exists.
//!
//! Across processes, the region takes a Redis lock as well (see
//! `region::redis`); this module only holds the lock tokens it uses.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// What a leader publishes: the value's encoded bytes.
pub(crate) type Shared = Option<Arc<[u8]>>;

/// The computations in flight, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<String, watch::Receiver<Shared>>>,
}

/// The role a caller gets for a key.
pub(crate) enum Join<'a> {
    Leader(Leader<'a>),
    Follower(Follower),
}

/// The one caller computing a key. Dropping it without [`Leader::publish`]
/// wakes the followers with nothing.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    tx: watch::Sender<Shared>,
}

/// A caller waiting for a leader.
pub(crate) struct Follower(watch::Receiver<Shared>);

impl Flights {
    /// Becomes the leader for `key`, or a follower of the current one.
    pub(crate) fn join(&self, key: &str) -> Join<'_> {
        let mut running = self.running.lock();
        if let Some(rx) = running.get(key) {
            return Join::Follower(Follower(rx.clone()));
        }
        let (tx, rx) = watch::channel(None);
        running.insert(key.to_string(), rx);
        Join::Leader(Leader {
            flights: self,
            key: key.to_string(),
            tx,
        })
    }

    /// Keys being computed now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.running.lock().len()
    }
}

impl Leader<'_> {
    /// Hands the value to every follower and ends the flight.
    pub(crate) fn publish(self, bytes: Arc<[u8]>) {
        // Sent before the entry is removed (on drop): a caller that joins in
        // between sees the value at once.
        let _ = self.tx.send(Some(bytes));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut running = self.flights.running.lock();
        if running
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            running.remove(&self.key);
        }
    }
}

impl Follower {
    /// The leader's bytes, or `None` if it ended without a value.
    pub(crate) async fn wait(mut self) -> Shared {
        match self.0.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        }
    }
}

/// A random token that identifies one owner of a distributed lock (128 bits
/// of OS randomness, hex), so that only the owner can release it.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on supported systems): fall back to
        // time and address entropy, still unique per process and call.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let here = &bytes as *const _ as usize as u128;
        bytes = (nanos ^ (here << 64) ^ u128::from(std::process::id())).to_le_bytes();
    }
    hex(&bytes)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The Redis lock of a computation in progress: released in the background
/// if the computation's future is dropped before [`Held::disarm`].
pub(crate) struct Held {
    armed: Option<(Arc<crate::region::RedisStore>, String, String)>,
}

impl Held {
    pub(crate) fn new(store: Arc<crate::region::RedisStore>, lock: &str, token: &str) -> Held {
        Held {
            armed: Some((store, lock.to_string(), token.to_string())),
        }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((store, lock, token)) = self.armed.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Owner-only: another process's lock under the same key is safe.
            runtime.spawn(async move {
                let _ = store.unlock(&lock, &token).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_bytes() {
        let flights = Flights::default();
        let Join::Leader(leader) = flights.join("k") else {
            panic!("first caller leads")
        };
        let followers: Vec<_> = (0..5)
            .map(|_| match flights.join("k") {
                Join::Follower(f) => f,
                Join::Leader(_) => panic!("only one leader"),
            })
            .collect();
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            for f in followers {
                got.push(f.wait().await);
            }
            got
        });
        leader.publish(Arc::from(&b"rows"[..]));
        let got = waiting.await.unwrap();
        assert!(got.iter().all(|g| g.as_deref() == Some(&b"rows"[..])));
        assert_eq!(flights.len(), 0, "the flight ends with its leader");
    }

    #[tokio::test]
    async fn a_dropped_leader_wakes_its_followers() {
        let flights = Flights::default();
        let leader = flights.join("k");
        let Join::Follower(f) = flights.join("k") else {
            panic!("second caller follows")
        };
        drop(leader);
        assert_eq!(f.wait().await, None);
        assert!(
            matches!(flights.join("k"), Join::Leader(_)),
            "next caller leads"
        );
    }

    #[test]
    fn tokens_differ() {
        let a = token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, token());
    }
}
