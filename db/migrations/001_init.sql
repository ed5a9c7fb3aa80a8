-- tesa store, schema 1. Applied once, inside a transaction, tracked with PRAGMA user_version.
-- Times are milliseconds since the Unix epoch (INTEGER). *_json columns hold JSON text.

CREATE TABLE searches (
  id               INTEGER PRIMARY KEY,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  status           TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued','running','paused','stopping','stopped','done','failed')),
  model            TEXT    NOT NULL,
  target           TEXT    NOT NULL,
  fingerprint_id   TEXT,
  fingerprint_json TEXT,
  strategy         TEXT    NOT NULL,
  budget_json      TEXT    NOT NULL,
  options_json     TEXT    NOT NULL DEFAULT '{}',
  baseline_json    TEXT,
  best_trial_id    INTEGER,
  error            TEXT,
  -- A request from any terminal; the runner consumes it (takeControl) and clears it.
  control          TEXT    NOT NULL DEFAULT 'none'
                   CHECK (control IN ('none','pause','resume','stop')),
  owner_pid        INTEGER,
  owner_host       TEXT,
  heartbeat_at     INTEGER,
  started_at       INTEGER,
  finished_at      INTEGER,
  -- Run time accumulated across resumes.
  elapsed_ms       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX searches_status ON searches (status, id);

CREATE TABLE trials (
  id             INTEGER PRIMARY KEY,
  search_id      INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
  seq            INTEGER NOT NULL,
  candidate_hash TEXT    NOT NULL,
  candidate_json TEXT    NOT NULL,
  status         TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running','ok','failed')),
  latency_ms     REAL,
  ci_low_ms      REAL,
  ci_high_ms     REAL,
  latency_ratio  REAL,
  quality        REAL,
  feasible       INTEGER NOT NULL DEFAULT 0,
  reason         TEXT,
  sparsity_json  TEXT,
  flops          REAL,
  kernels_built  INTEGER,
  kernels_cached INTEGER,
  started_at     INTEGER NOT NULL,
  finished_at    INTEGER,
  UNIQUE (search_id, seq)
);
CREATE INDEX trials_candidate ON trials (search_id, candidate_hash);

CREATE TABLE measurements (
  id           INTEGER PRIMARY KEY,
  search_id    INTEGER REFERENCES searches (id) ON DELETE CASCADE,
  trial_id     INTEGER REFERENCES trials (id) ON DELETE CASCADE,
  kind         TEXT    NOT NULL CHECK (kind IN ('baseline','trial','final','final-baseline','bench')),
  samples_json TEXT    NOT NULL,
  median_ms    REAL    NOT NULL,
  mad_ms       REAL    NOT NULL,
  ci_low_ms    REAL    NOT NULL,
  ci_high_ms   REAL    NOT NULL,
  n            INTEGER NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX measurements_search ON measurements (search_id, id);
CREATE INDEX measurements_trial ON measurements (trial_id);

CREATE TABLE kernels (
  hash           TEXT    PRIMARY KEY,
  fingerprint_id TEXT    NOT NULL,
  language       TEXT    NOT NULL CHECK (language IN ('c','cuda')),
  entry          TEXT    NOT NULL,
  source_path    TEXT    NOT NULL,
  library_path   TEXT    NOT NULL,
  build_ms       REAL    NOT NULL,
  status         TEXT    NOT NULL CHECK (status IN ('ok','build_failed','wrong','crashed')),
  max_rel_error  REAL,
  error          TEXT,
  size_bytes     INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  last_used_at   INTEGER NOT NULL
);
CREATE INDEX kernels_lru ON kernels (last_used_at);

CREATE TABLE plan_decisions (
  key            TEXT    PRIMARY KEY,
  fingerprint_id TEXT    NOT NULL,
  choice_json    TEXT    NOT NULL,
  created_at     INTEGER NOT NULL
);

CREATE TABLE checkpoints (
  search_id  INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
  -- The trial seq after which the state was taken (-1: before the first trial).
  seq        INTEGER NOT NULL,
  state_json TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (search_id, seq)
);

CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  search_id INTEGER REFERENCES searches (id) ON DELETE CASCADE,
  at        INTEGER NOT NULL,
  level     TEXT    NOT NULL CHECK (level IN ('info','warn','error')),
  kind      TEXT    NOT NULL,
  message   TEXT    NOT NULL,
  data_json TEXT
);
CREATE INDEX events_search ON events (search_id, id);
