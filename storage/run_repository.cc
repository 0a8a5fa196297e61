#include "storage/run_repository.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/run_state.h"
#include "common/status_macros.h"
#include "storage/errors.h"
#include "storage/sealed_secrets.h"

namespace slipway::storage {
namespace {

template <typename T>
absl::StatusOr<T> Decode(const Transaction& tx, const std::string& blob, std::string_view what) {
  T message;
  RETURN_IF_ERROR(ParseStored(tx, blob, &message, what));
  return message;
}

// The newest release of a stage: the primary key read backwards, one index probe however long
// the history is. (MAX(number) lets PostgreSQL's planner, on a table it has not analyzed yet,
// aggregate over every release of the stage.)
absl::StatusOr<std::unique_ptr<Statement>> NewestRelease(Transaction& tx, std::string_view pipeline,
                                                         std::string_view stage) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT number FROM releases WHERE pipeline = ? AND "
                                         "stage = ? ORDER BY number DESC LIMIT 1"));
  stmt->Bind(1, pipeline).Bind(2, stage);
  return stmt;
}

absl::Status InsertNumbered(Transaction& tx, const v1::Release& release) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO releases (pipeline, stage, number, run_id, "
                                         "spec) VALUES (?, ?, ?, ?, ?)"));
  stmt->Bind(1, release.pipeline())
      .Bind(2, release.stage())
      .Bind(3, release.number())
      .Bind(4, release.run_id())
      .BindBlob(5, StoredBytes(tx, release));
  return stmt->RunLater(AlreadyExists(
      "release", absl::StrCat(release.pipeline(), "/", release.stage(), " #", release.number())));
}

// A stage's resources in name order.
absl::StatusOr<std::unique_ptr<Statement>> StageResourcesOf(Transaction& tx,
                                                            std::string_view pipeline,
                                                            std::string_view stage) {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT state FROM stage_resources WHERE pipeline = ? "
                                         "AND stage = ? ORDER BY resource"));
  stmt->Bind(1, pipeline).Bind(2, stage);
  return stmt;
}

absl::StatusOr<std::vector<v1::ResourceState>> ReadResourceStates(const Transaction& tx,
                                                                  Statement& stmt) {
  std::vector<v1::ResourceState> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::ResourceState s,
                     Decode<v1::ResourceState>(tx, stmt.ColumnBlob(0), "resource state"));
    out.push_back(std::move(s));
  }
  return out;
}

// The columns of an INSERT INTO runs (id, seq, pipeline, stage, state, active, spec) with the
// sequence number computed in the statement: parameters 1 to 6.
void BindRunRow(const Transaction& tx, const v1::Run& run, Statement& stmt) {
  stmt.Bind(1, run.id())
      .Bind(2, run.pipeline())
      .Bind(3, run.stage())
      .Bind(4, static_cast<int64_t>(run.state()))
      .Bind(5, static_cast<int64_t>(RunActive(run.state()) ? 1 : 0))
      .BindBlob(6, StoredBytes(tx, run));
}

}  // namespace

absl::StatusOr<int64_t> RunRepository::Insert(Transaction& tx, const v1::Run& run) const {
  // The next number in the same statement: writes are serialized, and one round trip fewer
  // matters on PostgreSQL.
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO runs (id, seq, pipeline, stage, state, "
                                         "active, spec) VALUES (?, (SELECT COALESCE(MAX(seq), 0) "
                                         "+ 1 FROM runs), ?, ?, ?, ?, ?) RETURNING seq"));
  BindRunRow(tx, run, *stmt);
  absl::StatusOr<bool> row = stmt->Step();
  if (absl::IsAlreadyExists(row.status())) return AlreadyExists("run", run.id());
  RETURN_IF_ERROR(row.status());
  if (!*row) return absl::InternalError("storage: inserting a run returned no sequence number");
  return stmt->ColumnInt(0);
}

absl::Status RunRepository::Add(Transaction& tx, const v1::Run& run) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO runs (id, seq, pipeline, stage, state, "
                                         "active, spec) VALUES (?, (SELECT COALESCE(MAX(seq), 0) "
                                         "+ 1 FROM runs), ?, ?, ?, ?, ?)"));
  BindRunRow(tx, run, *stmt);
  return stmt->RunLater(AlreadyExists("run", run.id()));
}

absl::Status RunRepository::Put(Transaction& tx, const v1::Run& run) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("INSERT INTO runs (id, seq, pipeline, stage, state, active, spec) "
                              "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?, ?, ?, "
                              "?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                              "active = excluded.active, spec = excluded.spec"));
  BindRunRow(tx, run, *stmt);
  return stmt->RunLater();
}

absl::Status RunRepository::Update(Transaction& tx, const v1::Run& run) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("UPDATE runs SET state = ?, active = ?, spec = ? WHERE id = ?"));
  stmt->Bind(1, static_cast<int64_t>(run.state()))
      .Bind(2, static_cast<int64_t>(RunActive(run.state()) ? 1 : 0))
      .BindBlob(3, StoredBytes(tx, run))
      .Bind(4, run.id());
  RETURN_IF_ERROR(stmt->Run());
  if (tx.Changes() != 1) return NotFound("run", run.id());
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> RunRepository::Get(Transaction& tx, std::string_view id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM runs WHERE id = ?"));
  stmt->Bind(1, id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("run", id);
  return Decode<v1::Run>(tx, stmt->ColumnBlob(0), "run");
}

absl::StatusOr<int64_t> RunRepository::SequenceOf(Transaction& tx, std::string_view id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT seq FROM runs WHERE id = ?"));
  stmt->Bind(1, id);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("run", id);
  return stmt->ColumnInt(0);
}

absl::StatusOr<std::vector<v1::Run>> RunRepository::List(Transaction& tx,
                                                         const RunFilter& filter) const {
  // States are filtered after decoding; the index serves pipeline, stage and order.
  const int64_t before = filter.before_seq > 0 ? filter.before_seq : INT64_MAX;
  const char* sql =
      !filter.stage.empty()
          ? "SELECT spec, state FROM runs WHERE pipeline = ? AND stage = ? AND seq < ? "
            "ORDER BY seq DESC"
      : !filter.pipeline.empty()
          ? "SELECT spec, state FROM runs WHERE pipeline = ? AND ? = '' AND seq < ? "
            "ORDER BY seq DESC"
          : "SELECT spec, state FROM runs WHERE ? = '' AND ? = '' AND seq < ? ORDER BY seq DESC";
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare(sql));
  stmt->Bind(1, filter.pipeline).Bind(2, filter.stage).Bind(3, before);
  std::vector<v1::Run> out;
  while (static_cast<int>(out.size()) < filter.limit) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    if (!filter.states.empty()) {
      auto state = static_cast<v1::RunState>(stmt->ColumnInt(1));
      if (std::find(filter.states.begin(), filter.states.end(), state) == filter.states.end()) {
        continue;
      }
    }
    ASSIGN_OR_RETURN(v1::Run run, Decode<v1::Run>(tx, stmt->ColumnBlob(0), "run"));
    out.push_back(std::move(run));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Run>> RunRepository::ListActive(Transaction& tx,
                                                               std::string_view pipeline,
                                                               std::string_view stage) const {
  // Two statements, each matching one partial index (runs_active_by_seq, runs_active) exactly,
  // so that neither planner walks the whole run history to find the few active runs.
  std::unique_ptr<Statement> stmt;
  if (pipeline.empty()) {
    ASSIGN_OR_RETURN(stmt, tx.Prepare("SELECT spec FROM runs WHERE active = 1 ORDER BY seq"));
  } else {
    ASSIGN_OR_RETURN(stmt, tx.Prepare("SELECT spec FROM runs WHERE active = 1 AND pipeline = ? "
                                      "AND stage = ? ORDER BY seq"));
    stmt->Bind(1, pipeline).Bind(2, stage);
  }
  std::vector<v1::Run> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Run run, Decode<v1::Run>(tx, stmt->ColumnBlob(0), "run"));
    out.push_back(std::move(run));
  }
  return out;
}

absl::Status RunRepository::AppendEvent(Transaction& tx, const v1::RunEvent& event) const {
  return AppendEvents(tx, {&event, 1});
}

absl::Status RunRepository::AppendEvents(Transaction& tx,
                                         absl::Span<const v1::RunEvent> events) const {
  // One statement per kMaxRows events. Statement texts are the statement cache's keys, so they
  // live as long as the process.
  constexpr size_t kMaxRows = 16;
  static const auto* texts = [] {
    auto* out = new std::vector<std::string>(kMaxRows + 1);
    for (size_t n = 1; n <= kMaxRows; ++n) {
      std::string& sql = (*out)[n];
      sql = "INSERT INTO run_events (run_id, seq, event) VALUES (?, ?, ?)";
      for (size_t i = 1; i < n; ++i) sql += ", (?, ?, ?)";
    }
    return out;
  }();
  while (!events.empty()) {
    const size_t n = std::min(events.size(), kMaxRows);
    ASSIGN_OR_RETURN(auto stmt, tx.Prepare((*texts)[n].c_str()));
    for (size_t i = 0; i < n; ++i) {
      const v1::RunEvent& e = events[i];
      const int at = static_cast<int>(3 * i);
      stmt->Bind(at + 1, e.run_id())
          .Bind(at + 2, e.sequence())
          .BindBlob(at + 3, e.SerializeAsString());
    }
    RETURN_IF_ERROR(stmt->RunLater());
    events.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::RunEvent>> RunRepository::EventsAfter(Transaction& tx,
                                                                     std::string_view run_id,
                                                                     int64_t after,
                                                                     int limit) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT event FROM run_events WHERE run_id = ? AND "
                                         "seq > ? ORDER BY seq LIMIT ?"));
  stmt->Bind(1, run_id).Bind(2, after).Bind(3, static_cast<int64_t>(limit));
  std::vector<v1::RunEvent> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::RunEvent e, Decode<v1::RunEvent>(tx, stmt->ColumnBlob(0), "run event"));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<int64_t> RunRepository::DeleteEvents(Transaction& tx,
                                                    std::string_view run_id) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM run_events WHERE run_id = ?"));
  stmt->Bind(1, run_id);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

absl::StatusOr<int64_t> ReleaseRepository::DeleteUpTo(Transaction& tx, std::string_view pipeline,
                                                      std::string_view stage, int64_t up_to,
                                                      const std::vector<int64_t>& keep) const {
  if (keep.size() > 4) return absl::InternalError("DeleteUpTo: at most 4 releases to keep");
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("DELETE FROM releases WHERE pipeline = ? AND stage = ? AND "
                              "number <= ? AND number NOT IN (?, ?, ?, ?)"));
  stmt->Bind(1, pipeline).Bind(2, stage).Bind(3, up_to);
  for (int i = 0; i < 4; ++i) {
    stmt->Bind(4 + i, i < static_cast<int>(keep.size()) ? keep[i] : int64_t{0});
  }
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

absl::StatusOr<std::optional<v1::StageHold>> StageHoldRepository::Get(
    Transaction& tx, std::string_view pipeline, std::string_view stage) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT hold FROM stage_holds WHERE pipeline = ? AND stage = ?"));
  stmt->Bind(1, pipeline).Bind(2, stage);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::StageHold h, Decode<v1::StageHold>(tx, stmt->ColumnBlob(0), "stage hold"));
  return h;
}

absl::Status StageHoldRepository::Put(Transaction& tx, const v1::StageHold& hold) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO stage_holds (pipeline, stage, hold) VALUES "
                                         "(?, ?, ?) ON CONFLICT (pipeline, stage) DO UPDATE SET "
                                         "hold = excluded.hold"));
  stmt->Bind(1, hold.pipeline()).Bind(2, hold.stage()).BindBlob(3, hold.SerializeAsString());
  return stmt->Run();
}

absl::StatusOr<std::optional<v1::StageHold>> StageHoldRepository::Delete(
    Transaction& tx, std::string_view pipeline, std::string_view stage) const {
  ASSIGN_OR_RETURN(auto existing, Get(tx, pipeline, stage));
  if (!existing.has_value()) return std::nullopt;
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("DELETE FROM stage_holds WHERE pipeline = ? AND stage = ?"));
  stmt->Bind(1, pipeline).Bind(2, stage);
  RETURN_IF_ERROR(stmt->Run());
  return existing;
}

absl::StatusOr<std::vector<v1::StageHold>> StageHoldRepository::List(Transaction& tx) const {
  return List(tx, [] { return absl::OkStatus(); });
}

absl::StatusOr<std::vector<v1::StageHold>> StageHoldRepository::List(
    Transaction& tx, absl::FunctionRef<absl::Status()> alongside) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT hold FROM stage_holds"));
  RETURN_IF_ERROR(stmt->Prefetch());
  RETURN_IF_ERROR(alongside());
  std::vector<v1::StageHold> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::StageHold h, Decode<v1::StageHold>(tx, stmt->ColumnBlob(0), "stage hold"));
    out.push_back(std::move(h));
  }
  return out;
}

absl::StatusOr<int64_t> ReleaseRepository::Insert(Transaction& tx, v1::Release release) const {
  ASSIGN_OR_RETURN(auto newest, NewestRelease(tx, release.pipeline(), release.stage()));
  ASSIGN_OR_RETURN(bool row, newest->Step());
  release.set_number(row ? newest->ColumnInt(0) + 1 : 1);
  RETURN_IF_ERROR(InsertNumbered(tx, release));
  return release.number();
}

absl::StatusOr<std::vector<int64_t>> ReleaseRepository::InsertWithResources(
    Transaction& tx, std::vector<v1::Release> releases) const {
  // Per stage: the newest release number and the resources, sent ahead together.
  struct StageReads {
    std::unique_ptr<Statement> newest;
    std::unique_ptr<Statement> resources;
    int64_t next = 0;  // 0: not read yet
    std::vector<v1::ResourceState> current;
  };
  std::map<std::pair<std::string, std::string>, StageReads> stages;
  for (const v1::Release& r : releases) {
    StageReads& reads = stages[{r.pipeline(), r.stage()}];
    if (reads.newest != nullptr) continue;
    ASSIGN_OR_RETURN(reads.newest, NewestRelease(tx, r.pipeline(), r.stage()));
    RETURN_IF_ERROR(reads.newest->Prefetch());
    ASSIGN_OR_RETURN(reads.resources, StageResourcesOf(tx, r.pipeline(), r.stage()));
    RETURN_IF_ERROR(reads.resources->Prefetch());
  }
  std::vector<int64_t> numbers;
  numbers.reserve(releases.size());
  for (v1::Release& release : releases) {
    StageReads& reads = stages[{release.pipeline(), release.stage()}];
    if (reads.next == 0) {
      ASSIGN_OR_RETURN(bool row, reads.newest->Step());
      reads.next = row ? reads.newest->ColumnInt(0) + 1 : 1;
      ASSIGN_OR_RETURN(reads.current, ReadResourceStates(tx, *reads.resources));
      reads.newest.reset();
      reads.resources.reset();
    }
    release.set_number(reads.next++);
    release.clear_resources();
    for (const v1::ResourceState& c : reads.current) *release.add_resources() = c;
    RETURN_IF_ERROR(InsertNumbered(tx, release));
    numbers.push_back(release.number());
  }
  return numbers;
}

absl::StatusOr<v1::Release> ReleaseRepository::Get(Transaction& tx, std::string_view pipeline,
                                                   std::string_view stage, int64_t number) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM releases WHERE pipeline = ? AND "
                                         "stage = ? AND number = ?"));
  stmt->Bind(1, pipeline).Bind(2, stage).Bind(3, number);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return NotFound("release",
                    absl::StrCat(std::string(pipeline), "/", std::string(stage), " ", number));
  }
  return Decode<v1::Release>(tx, stmt->ColumnBlob(0), "release");
}

absl::StatusOr<std::optional<v1::Release>> ReleaseRepository::Latest(Transaction& tx,
                                                                     std::string_view pipeline,
                                                                     std::string_view stage) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT spec FROM releases WHERE pipeline = ? AND "
                                         "stage = ? ORDER BY number DESC LIMIT 1"));
  stmt->Bind(1, pipeline).Bind(2, stage);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::Release r, Decode<v1::Release>(tx, stmt->ColumnBlob(0), "release"));
  return r;
}

absl::StatusOr<std::vector<v1::Release>> ReleaseRepository::List(Transaction& tx,
                                                                 std::string_view pipeline,
                                                                 std::string_view stage,
                                                                 int64_t before, int limit) const {
  // A plain range on the primary key (no "? = 0 OR" that would hide it from the planner), so
  // any page costs the same however deep in the history it is.
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("SELECT spec FROM releases WHERE pipeline = ? AND stage = ? AND "
                              "number < ? ORDER BY number DESC LIMIT ?"));
  stmt->Bind(1, pipeline)
      .Bind(2, stage)
      .Bind(3, before > 0 ? before : INT64_MAX)
      .Bind(4, static_cast<int64_t>(limit));
  std::vector<v1::Release> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(v1::Release r, Decode<v1::Release>(tx, stmt->ColumnBlob(0), "release"));
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status StageResourceRepository::Put(Transaction& tx, std::string_view pipeline,
                                          std::string_view stage,
                                          const v1::ResourceState& state) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("INSERT INTO stage_resources (pipeline, stage, "
                                         "resource, state) VALUES (?, ?, ?, ?) ON CONFLICT "
                                         "(pipeline, stage, resource) DO UPDATE SET state = "
                                         "excluded.state"));
  stmt->Bind(1, pipeline).Bind(2, stage).Bind(3, state.name()).BindBlob(4, StoredBytes(tx, state));
  return stmt->RunLater();
}

absl::StatusOr<std::optional<v1::ResourceState>> StageResourceRepository::Get(
    Transaction& tx, std::string_view pipeline, std::string_view stage,
    std::string_view resource) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT state FROM stage_resources WHERE pipeline = ? "
                                         "AND stage = ? AND resource = ?"));
  stmt->Bind(1, pipeline).Bind(2, stage).Bind(3, resource);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  ASSIGN_OR_RETURN(v1::ResourceState s,
                   Decode<v1::ResourceState>(tx, stmt->ColumnBlob(0), "resource state"));
  return s;
}

absl::StatusOr<std::vector<v1::ResourceState>> StageResourceRepository::List(
    Transaction& tx, std::string_view pipeline, std::string_view stage) const {
  ASSIGN_OR_RETURN(auto stmt, StageResourcesOf(tx, pipeline, stage));
  return ReadResourceStates(tx, *stmt);
}

absl::Status StageResourceRepository::Delete(Transaction& tx, std::string_view pipeline,
                                             std::string_view stage,
                                             std::string_view resource) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM stage_resources WHERE pipeline = ? AND "
                                         "stage = ? AND resource = ?"));
  stmt->Bind(1, pipeline).Bind(2, stage).Bind(3, resource);
  return stmt->Run();
}

}  // namespace slipway::storage
