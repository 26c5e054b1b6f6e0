"""The SQLAlchemy 2.x peer of the benchmark runner (`benches/src/peers/sqlalchemy.rs`).

Started once per backend, when the runner opens the peers' connections
(after the seed, or before it with `--stale-stats`):

    sqla_peer.py <sqlite|postgres|mysql> <runner's database URL>

It maps the runner's tables (it never creates or seeds them) and reads one
command per line on stdin:

    W1 <n>   load n users                        W4   100 users + posts + comments
    W2       users LEFT JOIN posts, filtered     W5   load 1,000 users, change, commit
    W3 <n>   insert n users, keys read back      W7 <n>  the re-route command on n receivers
    LO <n>   the smallest seeded user id         TOUCH   read bench_users once (untimed)
    PRAGMA <name>   a SQLite pragma of the pool's connection, answered `value <text>`

and answers each with one line, `ok <ns> <count> <statements> <peak RSS KiB>`
or `error <message>` (the traceback goes to stderr). Each operation is
written the way the SQLAlchemy 2.x documentation writes it: declarative
`Mapped` / `mapped_column` models, a fresh `Session(engine)` per operation,
`select()` with `session.scalars` / `session.execute`, `selectinload` chains,
`add_all` + flush, change-and-commit through the unit of work.

Timing: `time.perf_counter_ns()` around the operation only (the Session's
life: from `Session(engine)` to its close), so the pipe round trip and the
command parsing are not charged to SQLAlchemy. W3's input rows are built
untimed, as the runner builds them for the other peers.

Statements: an engine `before_cursor_execute` listener counts one per DBAPI
`cursor.execute` or `cursor.executemany` call, as the DBAPI is handed them:
an executemany (the unit of work's batched UPDATE / DELETE) counts as one
whatever the driver does with it, and each insertmanyvalues batch (INSERT ..
VALUES (..), (..) .. RETURNING, 1,000 rows a batch by default) as one.
BEGIN / COMMIT are the driver's, not cursor calls, and are not counted (the
ORM does not count them either).

Connections: the engine's pool holds one connection (`pool_size=1,
max_overflow=0`, QueuePool, SQLAlchemy's default pool for every backend
here, the SQLite file included), as every peer of the runner runs on one.
On SQLite a `connect` listener sets the runner's pragmas on it (WAL,
`synchronous = NORMAL`, foreign keys, a 5 s busy timeout), SQLAlchemy's
documented recipe for per-connection pragmas.
"""

import ipaddress
import itertools
import resource
import sys
import time
import traceback

import sqlalchemy
from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text, event, inspect, select
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, attribute_keyed_dict, mapped_column, relationship
from sqlalchemy.orm import selectinload
from sqlalchemy.types import TypeDecorator

# The runner's constants (benches/src/workloads/mod.rs and receivers.rs).
JOIN_USERS = 1_000
JOIN_MIN_AGE = 45
UPDATE_USERS = 1_000
GRAPH_USERS = 100
POSTS_PER_USER = 10
EDGE = "edge"
NEW_FILTER = "deny=none"

# The tables' keys are BIGINT (an INTEGER PRIMARY KEY rowid alias on SQLite:
# the variant SQLAlchemy's docs give for an autoincrementing key there).
BigKey = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "bench_users"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(128))
    age: Mapped[int] = mapped_column(Integer)
    visits: Mapped[int] = mapped_column(Integer)
    posts: Mapped[list["Post"]] = relationship(back_populates="user")


class Post(Base):
    __tablename__ = "bench_posts"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bench_users.id"), index=True)
    title: Mapped[str] = mapped_column(String(128))
    views: Mapped[int] = mapped_column(Integer)
    user: Mapped[User] = relationship(back_populates="posts")
    comments: Mapped[list["Comment"]] = relationship(back_populates="post")


class Comment(Base):
    __tablename__ = "bench_comments"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    post_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bench_posts.id"), index=True)
    body: Mapped[str] = mapped_column(String(128))
    likes: Mapped[int] = mapped_column(Integer)
    post: Mapped[Post] = relationship(back_populates="comments")


class NewUser(Base):
    """W3 inserts here (the runner empties it after every operation)."""

    __tablename__ = "bench_new_users"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(128))
    age: Mapped[int] = mapped_column(Integer)
    visits: Mapped[int] = mapped_column(Integer)


# W7: the configuration service's receivers, as the bench's ORM schema declares them.


class IPAddress(TypeDecorator):
    """An IP address stored as text (a type decorator)."""

    impl = String(45)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(value)

    def process_result_value(self, value, dialect):
        return None if value is None else ipaddress.ip_address(value)


receiver_groups = Table(
    "bench_receiver_groups",
    Base.metadata,
    Column("receiver_id", BigInteger, ForeignKey("bench_receivers.id"), primary_key=True),
    Column("group_id", BigInteger, ForeignKey("bench_groups.id"), primary_key=True),
)


class Receiver(Base):
    __tablename__ = "bench_receivers"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[ipaddress.IPv4Address | ipaddress.IPv6Address] = mapped_column(IPAddress)
    # Bumped once per command for every receiver with a changed plane.
    config_serial: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    # Planes keyed by kind; a plane taken out of the dict is deleted.
    planes: Mapped[dict[str, "Plane"]] = relationship(
        collection_class=attribute_keyed_dict("kind"), back_populates="receiver", cascade="all, delete-orphan"
    )
    groups: Mapped[list["Group"]] = relationship(secondary=receiver_groups, back_populates="receivers")

    # Optimistic concurrency, as the ORM's #[version]: UPDATE / DELETE .. WHERE version = ?.
    __mapper_args__ = {"version_id_col": version}


class Group(Base):
    __tablename__ = "bench_groups"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    receivers: Mapped[list[Receiver]] = relationship(secondary=receiver_groups, back_populates="groups")


class Plane(Base):
    __tablename__ = "bench_planes"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    receiver_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bench_receivers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(BigInteger)
    receiver: Mapped[Receiver] = relationship(back_populates="planes")

    __mapper_args__ = {"version_id_col": version}


# W7's logic, as receivers.rs writes it.

_PRIVATE_V4 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
_UNIQUE_LOCAL_V6 = ipaddress.ip_network("fc00::/7")


def gateway(address):
    """Receivers on a private network take the internal gateway (Rust's `is_private`, not Python's wider one)."""
    if address.version == 4:
        private = address.is_loopback or any(address in n for n in _PRIVATE_V4)
    else:
        private = address.is_loopback or address in _UNIQUE_LOCAL_V6
    return "10.9.9.9" if private else "192.0.2.1"


def is_legacy(kind):
    return kind == "legacy"


def reroute(kind, config, gateway):
    """A routing plane's config pointed at `gateway`, other settings kept; None for other planes or no change."""
    if kind != "routing":
        return None
    settings = [s for s in config.split(";") if s and not s.startswith("via=")]
    settings.insert(0, f"via={gateway}")
    new = ";".join(settings)
    return new if new != config else None


def missing_kinds(present):
    return [k for k in ("routing", "filter") if k not in present]


class CommandSession(Session):
    """W7's session: the command's before-flush hook bumps the serials."""


@event.listens_for(CommandSession, "before_flush")
def bump_serials(session, flush_context, instances):
    """The command's hook: bump the config serial of every receiver with a new, changed or removed plane (once)."""
    touched = {}
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Plane):
            receiver = obj.receiver
        elif isinstance(obj, Receiver) and inspect(obj).attrs.planes.history.has_changes():
            receiver = obj
        else:
            continue
        if receiver is not None:
            touched[id(receiver)] = receiver
    for receiver in touched.values():
        if not inspect(receiver).attrs.config_serial.history.has_changes():
            receiver.config_serial += 1


class Peer:
    def __init__(self, backend, url):
        self.lo = None
        self.statements = 0
        # One connection, as every peer of the runner has (see the module doc).
        self.engine = create_engine(sqlalchemy_url(backend, url), pool_size=1, max_overflow=0)
        self.inputs = {}

        @event.listens_for(self.engine, "before_cursor_execute")
        def count(conn, cursor, statement, parameters, context, executemany):
            self.statements += 1

        if backend == "sqlite":
            # As the other peers' connections (SQLAlchemy's documented recipe).
            @event.listens_for(self.engine, "connect")
            def pragmas(dbapi_connection, connection_record):
                cursor = dbapi_connection.cursor()
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
                    cursor.execute(f"PRAGMA {pragma}")
                cursor.close()

        # Connect once now, so a bad URL or a missing driver fails before the first command.
        with self.engine.connect():
            pass

    # W1: n users into objects.
    def w1(self, n):
        with Session(self.engine) as session:
            users = session.scalars(select(User).where(User.id < self.lo + n)).all()
            return len(users)

    # W2: one LEFT JOIN into (user, post or None) rows.
    def w2(self):
        with Session(self.engine) as session:
            stmt = (
                select(User, Post)
                .outerjoin(User.posts)
                .where(User.id < self.lo + JOIN_USERS, User.age >= JOIN_MIN_AGE)
            )
            rows = session.execute(stmt).all()
            return len(rows)

    # W3: add_all + flush (insertmanyvalues with RETURNING: keys read back), commit.
    def w3(self, n):
        data = self.inputs.get(n)
        if data is None:
            raise RuntimeError(f"W3 {n}: input not built")
        with Session(self.engine) as session:
            users = [NewUser(name=name, email=email, age=age, visits=0) for name, email, age in data]
            session.add_all(users)
            session.flush()
            keyed = sum(1 for u in users if u.id is not None and u.id > 0)
            session.commit()
            return keyed

    def w3_input(self, n):
        """schema::new_users(n), built untimed."""
        if n not in self.inputs:
            self.inputs[n] = [(f"new-{i}", f"new-{i}@example.org", 20 + i % 50) for i in range(n)]

    # W4: users, their posts, the posts' comments, one selectinload query per level.
    def w4(self):
        with Session(self.engine) as session:
            stmt = (
                select(User)
                .where(User.id < self.lo + GRAPH_USERS)
                .options(selectinload(User.posts).selectinload(Post.comments))
            )
            users = session.scalars(stmt).all()
            posts = comments = 0
            for u in users:
                for p in u.posts:
                    posts += 1
                    comments += len(p.comments)
            if len(users) != GRAPH_USERS or posts != GRAPH_USERS * POSTS_PER_USER:
                raise RuntimeError(f"W4: {len(users)} users, {posts} posts")
            return comments

    # W5: load, change one column on each, commit (the flush batches the UPDATEs into one executemany).
    def w5(self):
        with Session(self.engine) as session:
            users = session.scalars(select(User).where(User.id < self.lo + UPDATE_USERS)).all()
            for u in users:
                u.visits += 1
            dirty = len(session.dirty)
            session.commit()
            if dirty != len(users):
                raise RuntimeError(f"W5: {dirty} dirty of {len(users)}")
            return len(users)

    # W7: the re-route command's unit of work: the group, its receivers and their keyed planes (three queries),
    # changes in memory, the serials bumped before the flush, one commit. Returns the planes changed.
    def w7(self):
        with CommandSession(self.engine) as session:
            stmt = (
                select(Group)
                .where(Group.name == EDGE)
                .options(selectinload(Group.receivers).selectinload(Receiver.planes))
            )
            edge = session.scalars(stmt).one()
            changes = 0
            for r in edge.receivers:
                gw = gateway(r.address)
                for kind, p in list(r.planes.items()):
                    if is_legacy(kind):
                        # Orphan removal: the flush deletes the plane.
                        del r.planes[kind]
                        changes += 1
                    else:
                        new = reroute(kind, p.config, gw)
                        if new is not None:
                            p.config = new
                            changes += 1
                for kind in missing_kinds(r.planes.keys()):
                    r.planes[kind] = Plane(kind=kind, config=NEW_FILTER)
                    changes += 1
            session.commit()
            return changes

    def touch(self):
        """One read of bench_users on the pool's connection (on SQLite it loads the schema and its statistics)."""
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT COUNT(*) FROM bench_users").scalar()

    def pragma(self, name):
        if not name.isidentifier():
            raise RuntimeError(f"PRAGMA {name!r}")
        with self.engine.connect() as conn:
            return f"value {conn.exec_driver_sql(f'SELECT CAST({name} AS TEXT) FROM pragma_{name}').scalar()}"

    def command(self, line):
        words = line.split()
        if words[0] == "PRAGMA":
            return self.pragma(words[1])
        if words[0] == "TOUCH":
            self.touch()
            return f"ok 0 0 0 {peak_rss_kib()}"
        op, args = words[0], [int(w) for w in words[1:]]
        if op == "LO":
            self.lo = args[0]
            return f"ok 0 0 0 {peak_rss_kib()}"
        if self.lo is None:
            raise RuntimeError(f"{line!r} before LO")
        run = {
            "W1": lambda: self.w1(args[0]),
            "W2": self.w2,
            "W3": lambda: self.w3(args[0]),
            "W4": self.w4,
            "W5": self.w5,
            "W7": self.w7,
        }.get(op)
        if run is None:
            raise RuntimeError(f"unknown command {line!r}")
        if op == "W3":
            self.w3_input(args[0])
        self.statements = 0
        started = time.perf_counter_ns()
        count = run()
        elapsed = time.perf_counter_ns() - started
        return f"ok {elapsed} {count} {self.statements} {peak_rss_kib()}"


def peak_rss_kib():
    """This process's peak resident set (KiB): VmHWM, the high-water mark of its own address space.

    Not `getrusage(RUSAGE_SELF).ru_maxrss`: Linux carries the maximum across execve, so it starts at the
    runner's resident set when the runner spawned this process (hundreds of MiB late in a run).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def sqlalchemy_url(backend, url):
    """The runner's sqlx URL with SQLAlchemy's driver names (psycopg 3, PyMySQL, the stdlib sqlite3)."""
    if backend == "sqlite":
        path = url.split("?", 1)[0].removeprefix("sqlite:").removeprefix("//")
        if not path.startswith("/"):
            raise ValueError(f"{url!r}: the SQLAlchemy peer needs an absolute SQLite file path")
        return f"sqlite:///{path}"
    u = make_url(url)
    if backend == "postgres":
        return u.set(drivername="postgresql+psycopg")
    if backend == "mysql":
        return u.set(drivername="mysql+pymysql", query={**u.query, "charset": "utf8mb4"})
    raise ValueError(f"unknown backend {backend!r}")


def main():
    backend, url = sys.argv[1], sys.argv[2]
    peer = Peer(backend, url)
    print(f"ready sqlalchemy {sqlalchemy.__version__} {peer.engine.dialect.driver}", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = peer.command(line)
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            reply = "error " + f"{type(e).__name__}: {e}".replace("\n", " ")
        print(reply, flush=True)


if __name__ == "__main__":
    main()
