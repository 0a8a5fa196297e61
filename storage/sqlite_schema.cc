#include "storage/sqlite_schema.h"

namespace slipway::storage {
namespace {

// Forward-only migrations. Entry i takes the schema from version i to i + 1. Never edit an
// entry that has shipped; append a new one.
constexpr const char* kMigrations[] = {
    // 1: pipelines, API tokens and the idempotency log of mutating requests.
    R"sql(
    CREATE TABLE pipelines (
      name TEXT PRIMARY KEY,
      uid TEXT NOT NULL UNIQUE,
      etag TEXT NOT NULL,
      revision INTEGER NOT NULL,
      spec BLOB NOT NULL
    );
    CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      hash BLOB NOT NULL UNIQUE,
      scope INTEGER NOT NULL,
      description TEXT NOT NULL,
      created_by TEXT NOT NULL,
      create_time TEXT NOT NULL,
      revoke_time TEXT
    );
    CREATE TABLE requests (
      method TEXT NOT NULL,
      request_id TEXT NOT NULL,
      fingerprint BLOB NOT NULL,
      response BLOB NOT NULL,
      create_time_ms INTEGER NOT NULL,
      PRIMARY KEY (method, request_id)
    );
    CREATE INDEX requests_by_time ON requests (create_time_ms);
    )sql",
    // 2: runs with their event log, releases, and what each stage's resources run now.
    R"sql(
    CREATE TABLE runs (
      id TEXT PRIMARY KEY,
      seq INTEGER NOT NULL UNIQUE,
      pipeline TEXT NOT NULL,
      stage TEXT NOT NULL,
      state INTEGER NOT NULL,
      active INTEGER NOT NULL,
      spec BLOB NOT NULL
    );
    CREATE INDEX runs_by_stage ON runs (pipeline, stage, seq);
    CREATE INDEX runs_active ON runs (pipeline, stage, seq) WHERE active = 1;
    CREATE TABLE run_events (
      run_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      event BLOB NOT NULL,
      PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE releases (
      pipeline TEXT NOT NULL,
      stage TEXT NOT NULL,
      number INTEGER NOT NULL,
      run_id TEXT NOT NULL,
      spec BLOB NOT NULL,
      PRIMARY KEY (pipeline, stage, number)
    ) WITHOUT ROWID;
    CREATE TABLE stage_resources (
      pipeline TEXT NOT NULL,
      stage TEXT NOT NULL,
      resource TEXT NOT NULL,
      state BLOB NOT NULL,
      PRIMARY KEY (pipeline, stage, resource)
    ) WITHOUT ROWID;
    )sql",
    // 3: stage holds.
    R"sql(
    CREATE TABLE stage_holds (
      pipeline TEXT NOT NULL,
      stage TEXT NOT NULL,
      hold BLOB NOT NULL,
      PRIMARY KEY (pipeline, stage)
    ) WITHOUT ROWID;
    )sql",
    // 4: webhook deliveries. A provider's delivery id is claimed once; repeats are recorded as
    // duplicates.
    R"sql(
    CREATE TABLE deliveries (
      id TEXT PRIMARY KEY,
      seq INTEGER NOT NULL UNIQUE,
      provider INTEGER NOT NULL,
      delivery_id TEXT NOT NULL,
      duplicate INTEGER NOT NULL,
      spec BLOB NOT NULL
    );
    CREATE UNIQUE INDEX deliveries_by_provider_id ON deliveries (provider, delivery_id)
      WHERE duplicate = 0;
    )sql",
    // 5: when each schedule trigger fires next.
    R"sql(
    CREATE TABLE schedules (
      key TEXT PRIMARY KEY,
      next_fire_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    )sql",
    // 6: tokens of generic webhook triggers, stored as SHA-256 hashes.
    R"sql(
    CREATE TABLE webhook_tokens (
      hash BLOB PRIMARY KEY,
      pipeline TEXT NOT NULL,
      name TEXT NOT NULL,
      UNIQUE (pipeline, name)
    );
    )sql",
    // 7: which pipelines bind which repositories (repository in lower case), so a webhook finds
    // them by index. Existing pipelines are indexed by BackfillSourceBindings in the same step.
    R"sql(
    CREATE TABLE source_bindings (
      provider INTEGER NOT NULL,
      repository TEXT NOT NULL,
      pipeline TEXT NOT NULL,
      PRIMARY KEY (provider, repository, pipeline)
    ) WITHOUT ROWID;
    )sql",
    // 8: what repository polling last saw: each ref's commit, and when to poll next.
    R"sql(
    CREATE TABLE polled_refs (
      source_key TEXT NOT NULL,
      ref TEXT NOT NULL,
      sha TEXT NOT NULL,
      PRIMARY KEY (source_key, ref)
    ) WITHOUT ROWID;
    CREATE TABLE poll_schedule (
      source_key TEXT PRIMARY KEY,
      next_poll_ms INTEGER NOT NULL,
      initialized INTEGER NOT NULL
    ) WITHOUT ROWID;
    )sql",
    // 9: preview environments. A name and a (pipeline, blueprint, key) are unique among live
    // previews; deleted ones stay for history under their uid.
    R"sql(
    CREATE TABLE previews (
      uid TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      pipeline TEXT NOT NULL,
      blueprint TEXT NOT NULL,
      key TEXT NOT NULL,
      live INTEGER NOT NULL,
      seq INTEGER NOT NULL,
      spec BLOB NOT NULL
    );
    CREATE UNIQUE INDEX previews_live_name ON previews (name) WHERE live = 1;
    CREATE UNIQUE INDEX previews_live_key ON previews (pipeline, blueprint, key) WHERE live = 1;
    CREATE INDEX previews_by_seq ON previews (seq);
    -- What deliveries last said of a pull request or branch: open (1) or closed/deleted (0).
    CREATE TABLE preview_subjects (
      pipeline TEXT NOT NULL,
      key TEXT NOT NULL,
      open INTEGER NOT NULL,
      time_ms INTEGER NOT NULL,
      PRIMARY KEY (pipeline, key)
    ) WITHOUT ROWID;
    )sql",
    // 10: delivery retention by age, deliveries listed by the repository they came for, and the
    // row /readyz writes to learn whether the store takes writes again.
    R"sql(
    ALTER TABLE deliveries ADD COLUMN receive_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deliveries ADD COLUMN repository TEXT NOT NULL DEFAULT '';
    CREATE INDEX deliveries_by_receive ON deliveries (receive_ms);
    CREATE TABLE write_probe (
      id INTEGER PRIMARY KEY,
      time_ms INTEGER NOT NULL
    );
    )sql",
    // 11: settings of the store itself, such as the id of the key its secrets are sealed with.
    R"sql(
    CREATE TABLE settings (
      name TEXT PRIMARY KEY,
      value TEXT NOT NULL
    );
    )sql",
    // 12: times and durations in stored messages become google.protobuf.Timestamp and Duration
    // (slipway_times_v12: storage/time_migration.h). Token times stay text columns.
    R"sql(
    UPDATE pipelines SET spec = slipway_times_v12('slipway.v1.Pipeline', spec);
    UPDATE runs SET spec = slipway_times_v12('slipway.v1.Run', spec);
    UPDATE run_events SET event = slipway_times_v12('slipway.v1.RunEvent', event);
    UPDATE releases SET spec = slipway_times_v12('slipway.v1.Release', spec);
    UPDATE stage_resources SET state = slipway_times_v12('slipway.v1.ResourceState', state);
    UPDATE stage_holds SET hold = slipway_times_v12('slipway.v1.StageHold', hold);
    UPDATE deliveries SET spec = slipway_times_v12('slipway.v1.Delivery', spec);
    UPDATE previews SET spec = slipway_times_v12('slipway.v1.Preview', spec);
    )sql",
    // 13: every revision of every pipeline (kept after the pipeline is deleted), and the audit
    // trail, append-only, in time order by its sequence (no index on time: a search by time
    // bisects the sequence, so that an append writes one B-tree and nothing else).
    R"sql(
    CREATE TABLE pipeline_revisions (
      pipeline TEXT NOT NULL,
      revision INTEGER NOT NULL,
      spec BLOB NOT NULL,
      meta BLOB NOT NULL,
      PRIMARY KEY (pipeline, revision)
    ) WITHOUT ROWID;
    -- A pipeline stored before history existed starts its history at its current revision.
    INSERT INTO pipeline_revisions (pipeline, revision, spec, meta)
      SELECT name, revision, spec, x'' FROM pipelines;
    CREATE TABLE audit_records (
      seq INTEGER PRIMARY KEY,
      time_ms INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      record BLOB NOT NULL
    );
    )sql",
    // 14: pipelines bound to a file in Git, with where their sync stands.
    R"sql(
    CREATE TABLE gitops_bindings (
      pipeline TEXT PRIMARY KEY,
      binding BLOB NOT NULL
    ) WITHOUT ROWID;
    )sql",
    // 15: leases: who owns a piece of work until when, with a fencing token that grows at every
    // acquisition (storage/lease_repository.h).
    R"sql(
    CREATE TABLE leases (
      name TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      token INTEGER NOT NULL,
      expire_ms INTEGER NOT NULL,
      info BLOB NOT NULL
    ) WITHOUT ROWID;
    )sql",
    // 16: the names of pipelines changed by each write, in commit order, so that replicas
    // sharing a PostgreSQL store see each other's changes (Database::FollowOtherWriters). SQLite,
    // with one writing process, keeps it empty.
    R"sql(
    CREATE TABLE pipeline_changes (
      seq INTEGER PRIMARY KEY,
      name TEXT NOT NULL
    );
    )sql",
    // 17: calls about a run another replica executes, and their answers
    // (storage/run_command_repository.h). SQLite, with one process, keeps it empty.
    R"sql(
    CREATE TABLE run_commands (
      seq INTEGER PRIMARY KEY,
      run_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      by_whom TEXT NOT NULL,
      node TEXT NOT NULL,
      text TEXT NOT NULL,
      created_ms INTEGER NOT NULL,
      state INTEGER NOT NULL,
      code INTEGER NOT NULL,
      message TEXT NOT NULL
    );
    )sql",
    // 18: the active runs in start order, which every replica reads on each pick-up round: the
    // index holds only active runs, so the read costs what is active, not the whole history.
    R"sql(
    CREATE INDEX runs_active_by_seq ON runs (seq) WHERE active = 1;
    )sql",
};

}  // namespace

absl::Span<const char* const> SqliteMigrations() { return kMigrations; }

}  // namespace slipway::storage
