//! SQLAlchemy 2.x ORM, the unit-of-work anchor, run as a Python subprocess
//! (`benches/python/sqla_peer.py`) on the same database the runner seeded.
//!
//! The first use creates a venv under `benches/target/sqla-venv` and installs
//! `benches/python/requirements.txt` there (pinned versions; skipped when the
//! venv's stamp says they are installed). `start` spawns one Python process
//! per backend when the runner opens the peers' connections (after the seed,
//! or before it with `--stale-stats`); its engine has a pool of one
//! connection (`pool_size=1, max_overflow=0`), and on SQLite the floor's
//! pragmas are set on it by a `connect` listener. `set_lo` tells it the
//! seeded key range; each operation is one command line on its
//! stdin (`W1 100`, `W7 50`, ..) and one reply line: the time the Python side
//! measured around the operation alone (`time.perf_counter_ns`, so the pipe
//! round trip is not charged to it), the result count, the statements its
//! `before_cursor_execute` listener counted, and the process's peak RSS.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Outcome;
use crate::workloads::{Backend, Kind};

const PYTHON_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/sqla-venv");

type Error = Box<dyn std::error::Error>;

/// The Python process of one backend.
pub struct SqlAlchemy {
    inner: Mutex<Process>,
    /// `sqlalchemy <version> <driver>`, as the process announced itself.
    pub version: String,
}

struct Process {
    backend: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Everything the process wrote to stderr (drained by a thread so the pipe never fills).
    stderr: Arc<Mutex<String>>,
    peak_rss_kib: u64,
}

impl SqlAlchemy {
    /// Creates the venv if needed and starts the peer on `url` (the runner's
    /// sqlx URL; the script maps it to SQLAlchemy's drivers).
    pub fn start(backend: Backend, url: &str) -> Result<SqlAlchemy, Error> {
        tokio::task::block_in_place(|| {
            let python = venv()?;
            let script = Path::new(PYTHON_DIR).join("sqla_peer.py");
            let mut child = Command::new(&python)
                .arg(&script)
                .args([backend.name(), url])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("sqlalchemy: cannot start {} {}: {e}", python.display(), script.display()))?;
            let stderr = Arc::new(Mutex::new(String::new()));
            let mut pipe = child.stderr.take().expect("piped stderr");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().expect("stderr buffer").push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            let mut p = Process { backend: backend.name(), child, stdin, stdout, stderr, peak_rss_kib: 0 };
            let hello = p.read_line().map_err(|e| p.failure("start", &e))?;
            let Some(version) = hello.strip_prefix("ready ") else {
                return Err(p.failure("start", &format!("unexpected {hello:?}")));
            };
            Ok(SqlAlchemy { version: version.to_string(), inner: Mutex::new(p) })
        })
    }

    /// One workload operation, timed by the Python side.
    pub fn run(&self, kind: Kind) -> Result<Outcome, Error> {
        let command = match kind {
            Kind::Load(n) => format!("W1 {n}"),
            Kind::Join => "W2".into(),
            Kind::Insert(n) => format!("W3 {n}"),
            Kind::Graph => "W4".into(),
            Kind::Update => "W5".into(),
            Kind::Reroute(n) => format!("W7 {n}"),
            Kind::Report | Kind::Stream => return Err("sqlalchemy runs W1-W5 and W7 only".into()),
        };
        let mut p = self.inner.lock().expect("sqlalchemy process");
        tokio::task::block_in_place(|| p.command(&command))
    }

    /// The smallest seeded user id (the workloads' key range starts there).
    pub fn set_lo(&self, lo: i64) -> Result<(), Error> {
        self.untimed(&format!("LO {lo}"))
    }

    /// One read of `bench_users` on the pool's connection (its first use, see `workloads::setup`).
    pub fn touch(&self) -> Result<(), Error> {
        self.untimed("TOUCH")
    }

    fn untimed(&self, command: &str) -> Result<(), Error> {
        let mut p = self.inner.lock().expect("sqlalchemy process");
        tokio::task::block_in_place(|| p.command(command)).map(|_| ())
    }

    /// A SQLite pragma as the pool's connection reports it (`synchronous`, `journal_mode`).
    pub fn pragma(&self, name: &str) -> Result<String, Error> {
        let mut p = self.inner.lock().expect("sqlalchemy process");
        let command = format!("PRAGMA {name}");
        let reply = tokio::task::block_in_place(|| p.ask(&command))?;
        match reply.strip_prefix("value ") {
            Some(v) => Ok(v.to_string()),
            None => Err(p.failure(&format!("command `{command}`"), &format!("unexpected reply {reply:?}"))),
        }
    }

    /// The Python process's peak resident set so far (KiB).
    pub fn peak_rss_kib(&self) -> u64 {
        self.inner.lock().expect("sqlalchemy process").peak_rss_kib
    }
}

impl Process {
    /// Sends one command; its reply line (an `error` reply is an error).
    fn ask(&mut self, command: &str) -> Result<String, Error> {
        let reply = writeln!(self.stdin, "{command}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| e.to_string())
            .and_then(|_| self.read_line())
            .map_err(|e| self.failure(&format!("command `{command}`"), &e))?;
        if let Some(message) = reply.strip_prefix("error ") {
            return Err(self.failure(&format!("command `{command}`"), message));
        }
        Ok(reply)
    }

    fn command(&mut self, command: &str) -> Result<Outcome, Error> {
        let reply = self.ask(command)?;
        let fields: Option<Vec<u64>> =
            reply.strip_prefix("ok ").and_then(|r| r.split_whitespace().map(|f| f.parse().ok()).collect());
        let Some(&[ns, count, statements, rss]) = fields.as_deref() else {
            return Err(self.failure(&format!("command `{command}`"), &format!("unexpected reply {reply:?}")));
        };
        self.peak_rss_kib = self.peak_rss_kib.max(rss);
        Ok(Outcome { count: count as usize, statements, elapsed: Some(Duration::from_nanos(ns)) })
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => {
                // Exited: wait for it so its stderr is complete.
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                std::thread::sleep(Duration::from_millis(100));
                Err(format!("the Python process exited ({status})"))
            }
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("reading its reply: {e}")),
        }
    }

    /// `what` failed: the message, and the tail of what Python wrote to stderr (its traceback).
    fn failure(&self, what: &str, message: &str) -> Error {
        let stderr = self.stderr.lock().expect("stderr buffer");
        let tail: String = {
            let lines: Vec<&str> = stderr.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        let backend = self.backend;
        format!("sqlalchemy peer on {backend}: {what} failed: {message}\n--- python stderr ---\n{tail}").into()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's python, after creating the venv and installing the pinned
/// requirements if its stamp (a copy of the requirements installed) differs.
fn venv() -> Result<PathBuf, Error> {
    let venv = Path::new(VENV);
    let python = venv.join("bin/python");
    let requirements_path = Path::new(PYTHON_DIR).join("requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_path)?;
    let stamp = venv.join("requirements.installed");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(python);
    }
    let run = |what: &str, cmd: &mut Command| -> Result<(), Error> {
        eprintln!("[sqlalchemy] {what}");
        let out = cmd.output().map_err(|e| format!("sqlalchemy venv: {what}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "sqlalchemy venv: {what} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    };
    if !python.exists() {
        let base = std::env::var("ORM_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        run(&format!("{base} -m venv {VENV}"), Command::new(&base).args(["-m", "venv", VENV]))?;
    }
    run(
        &format!("pip install -r {}", requirements_path.display()),
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"])
            .arg(&requirements_path),
    )?;
    std::fs::write(&stamp, requirements)?;
    Ok(python)
}
