//! `--pin`: the runner on one CPU, the local database servers on another.
//!
//! Why pin at all: on a two-core machine the scheduler moves the runner's
//! threads (tokio's workers, sqlx's SQLite worker, the SQLAlchemy process)
//! and the server's processes between the cores as it likes, so one pass can
//! have the client and the server on the same core and the next on two; a
//! round trip costs differently in each. Pinning fixes the placement for the
//! whole run, as a measurement made independently of this runner does.
//!
//! How: `sched_setaffinity` (through `libc`) on the runner's main thread
//! before the tokio runtime exists, so every thread created afterwards
//! (tokio's workers, sqlx's SQLite worker threads, the SQLAlchemy child
//! process) inherits the one-CPU mask: `sched_setaffinity(0, ..)` sets the
//! calling thread only, which is why it must come first. `core_affinity`
//! would do the same for the calling thread; `libc` was already in the
//! build and also reads and restores the servers' masks.
//!
//! The servers: every task (`/proc/<pid>/task/*`) of every process whose
//! name is `postgres` (the postmaster, its background workers and the
//! backends already open) or `mariadbd` / `mysqld`, pinned to the server
//! CPU. PostgreSQL backends forked later inherit the postmaster's mask;
//! MariaDB's threads created later inherit the mask of the thread that
//! creates them. Their previous masks are put back when the run ends
//! ([`Pinned`]'s drop); a run killed before that leaves them pinned, and
//! the runner prints the `taskset` line that undoes it. Tasks the servers
//! started while pinned (a PostgreSQL backend forked for another client,
//! a new MariaDB thread) get the mask the server had before. A server that runs
//! elsewhere (not a process of this machine) or that this user may not pin
//! is reported as not pinned, and the report says so.

use std::fmt::Write as _;

/// Which CPUs `--pin` uses: the runner's and the servers'.
#[derive(Clone, Copy, Debug)]
pub struct Pin {
    pub client: usize,
    pub server: usize,
}

impl Pin {
    /// `--pin` (`None`: the last CPU for the runner, CPU 0 for the servers)
    /// or `--pin=CLIENT:SERVER`.
    pub fn parse(value: Option<&str>) -> Result<Pin, String> {
        let cpus = online_cpus();
        let pin = match value {
            None => Pin { client: cpus.saturating_sub(1), server: 0 },
            Some(v) => {
                let (c, s) = v.split_once(':').ok_or_else(|| format!("--pin={v}: expected CLIENT:SERVER, e.g. 1:0"))?;
                let cpu = |x: &str| x.trim().parse::<usize>().map_err(|e| format!("--pin={v}: {x:?}: {e}"));
                Pin { client: cpu(c)?, server: cpu(s)? }
            }
        };
        if pin.client >= libc::CPU_SETSIZE as usize || pin.server >= libc::CPU_SETSIZE as usize {
            return Err(format!("--pin: CPU out of range ({pin:?})"));
        }
        Ok(pin)
    }
}

/// What `--pin` did, for the report; restores the servers' masks when dropped.
pub struct Pinned {
    pub pin: Pin,
    /// Per server: its name and either the tasks pinned or why it was not.
    servers: Vec<(&'static str, Result<usize, String>)>,
    /// (tid, previous mask) of every server task pinned.
    restore: Vec<(i32, libc::cpu_set_t)>,
    /// Per server pinned: its process names and the mask its first process
    /// had, for the tasks started while it was pinned (PostgreSQL backends
    /// forked for other clients, new MariaDB threads).
    originals: Vec<(&'static [&'static str], libc::cpu_set_t)>,
}

fn mask_of(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO / CPU_SET write inside it (cpu < CPU_SETSIZE, checked by `parse`).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

fn get_affinity(tid: i32) -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(set)
    }
}

fn set_affinity(tid: i32, set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs a mask allows, as `taskset -c` writes them (`0,1`).
fn cpus_of(set: &libc::cpu_set_t) -> String {
    // SAFETY: CPU_ISSET reads inside the set for cpu < CPU_SETSIZE.
    let on: Vec<String> = (0..online_cpus().min(libc::CPU_SETSIZE as usize))
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .map(|c| c.to_string())
        .collect();
    on.join(",")
}

/// The machine's online CPUs (not this thread's mask, which `--pin` narrows
/// and `available_parallelism` reports).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

/// The CPUs this thread may run on now.
pub fn current() -> String {
    get_affinity(0).map(|s| cpus_of(&s)).unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Pins the calling thread (call it before any other thread exists: they
/// inherit the mask) to `pin.client`.
pub fn pin_self(pin: Pin) -> Result<(), String> {
    set_affinity(0, &mask_of(pin.client)).map_err(|e| format!("--pin: sched_setaffinity(CPU {}): {e}", pin.client))
}

/// The pids of the processes called one of `names` (`/proc/<pid>/comm`).
fn pids_named(names: &[&str]) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| names.contains(&c.trim())))
        .collect();
    pids.sort_unstable();
    pids
}

fn tasks_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![pid];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()).collect()
}

/// Pins the local servers the run talks to (`servers`: "postgres",
/// "mariadb") to `pin.server`.
pub fn pin_servers(pin: Pin, servers: &[&'static str]) -> Pinned {
    let mut pinned = Pinned { pin, servers: Vec::new(), restore: Vec::new(), originals: Vec::new() };
    let target = mask_of(pin.server);
    for &server in servers {
        let names: &'static [&'static str] = match server {
            "postgres" => &["postgres"],
            _ => &["mariadbd", "mysqld"],
        };
        let pids = pids_named(names);
        if pids.is_empty() {
            let why = format!("no local process named {}", names.join(" or "));
            pinned.servers.push((server, Err(why)));
            continue;
        }
        if let Ok(first) = get_affinity(pids[0]) {
            pinned.originals.push((names, first));
        }
        let (mut done, mut failed) = (0, None);
        for tid in pids.iter().flat_map(|&p| tasks_of(p)) {
            let before = match get_affinity(tid) {
                Ok(b) => b,
                Err(e) => {
                    failed.get_or_insert(format!("task {tid}: {e}"));
                    continue;
                }
            };
            match set_affinity(tid, &target) {
                Ok(()) => {
                    pinned.restore.push((tid, before));
                    done += 1;
                }
                // A task that exited meanwhile is no failure.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    failed.get_or_insert(format!("task {tid}: {e}"));
                }
            }
        }
        pinned.servers.push((server, if done > 0 { Ok(done) } else { Err(failed.unwrap_or_default()) }));
    }
    pinned
}

impl Pinned {
    /// One line per server for the report.
    pub fn describe(&self) -> String {
        let mut o = format!("runner pinned to CPU {}", self.pin.client);
        for (server, r) in &self.servers {
            match r {
                Ok(n) => {
                    let _ = write!(o, "; {server} server pinned to CPU {} ({n} tasks)", self.pin.server);
                }
                Err(why) => {
                    let _ = write!(o, "; {server} server NOT pinned ({why})");
                }
            }
        }
        o
    }

    /// What undoes the pinning if this process is killed before its drop.
    pub fn undo_hint(&self) -> Option<String> {
        if self.restore.is_empty() {
            return None;
        }
        let all = self.restore.first().map(|(_, m)| cpus_of(m)).unwrap_or_default();
        let names: Vec<&str> = self.servers.iter().filter(|(_, r)| r.is_ok()).map(|(s, _)| *s).collect();
        Some(format!(
            "if this run is killed, undo the servers' pinning with: for p in $(pgrep -x 'postgres|mariadbd|mysqld'); do taskset -a -p -c {all} $p; done ({})",
            names.join(", ")
        ))
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let (mut restored, mut failed) = (0, 0);
        let mut set = |tid: i32, mask: &libc::cpu_set_t| match set_affinity(tid, mask) {
            Ok(()) => restored += 1,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(_) => failed += 1,
        };
        for (tid, before) in &self.restore {
            set(*tid, before);
        }
        // Tasks started while pinned inherited the pin: give them the server's first mask.
        let known: std::collections::HashSet<i32> = self.restore.iter().map(|(t, _)| *t).collect();
        for (names, original) in &self.originals {
            for tid in pids_named(names).into_iter().flat_map(tasks_of).filter(|t| !known.contains(t)) {
                set(tid, original);
            }
        }
        if !self.restore.is_empty() {
            eprintln!(
                "--pin: servers' CPU masks restored ({restored} tasks{})",
                if failed > 0 { format!(", {failed} failed") } else { String::new() }
            );
        }
    }
}
