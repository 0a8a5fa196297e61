#include "storage/run_command_repository.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace slipway::storage {
namespace {

#define SLIPWAY_RUN_COMMAND_COLUMNS \
  "seq, run_id, kind, by_whom, node, text, created_ms, state, code, message"

RunCommand FromRow(const Statement& stmt) {
  RunCommand c;
  c.seq = stmt.ColumnInt(0);
  c.run_id = stmt.ColumnText(1);
  c.kind = stmt.ColumnText(2);
  c.by = stmt.ColumnText(3);
  c.node = stmt.ColumnText(4);
  c.text = stmt.ColumnText(5);
  c.created_ms = stmt.ColumnInt(6);
  c.state = static_cast<int>(stmt.ColumnInt(7));
  c.code = static_cast<int>(stmt.ColumnInt(8));
  c.message = stmt.ColumnText(9);
  return c;
}

}  // namespace

absl::StatusOr<int64_t> RunCommandRepository::Add(Transaction& tx,
                                                  const RunCommand& command) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("INSERT INTO run_commands (run_id, kind, by_whom, node, text, "
                              "created_ms, state, code, message) VALUES (?, ?, ?, ?, ?, ?, 0, "
                              "0, '') RETURNING seq"));
  stmt->Bind(1, command.run_id)
      .Bind(2, command.kind)
      .Bind(3, command.by)
      .Bind(4, command.node)
      .Bind(5, command.text)
      .Bind(6, command.created_ms);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return absl::InternalError("storage: run command: no seq returned");
  return stmt->ColumnInt(0);
}

absl::StatusOr<std::optional<RunCommand>> RunCommandRepository::Get(Transaction& tx,
                                                                    int64_t seq) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT " SLIPWAY_RUN_COMMAND_COLUMNS
                                         " FROM run_commands WHERE seq = ?"));
  stmt->Bind(1, seq);
  ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return std::nullopt;
  return FromRow(*stmt);
}

absl::StatusOr<std::vector<RunCommand>> RunCommandRepository::Waiting(Transaction& tx,
                                                                      int limit) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("SELECT " SLIPWAY_RUN_COMMAND_COLUMNS
                                         " FROM run_commands WHERE state = 0 ORDER BY seq "
                                         "LIMIT ?"));
  stmt->Bind(1, static_cast<int64_t>(limit));
  std::vector<RunCommand> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) break;
    out.push_back(FromRow(*stmt));
  }
  return out;
}

absl::StatusOr<bool> RunCommandRepository::Take(Transaction& tx, int64_t seq) const {
  ASSIGN_OR_RETURN(auto stmt,
                   tx.Prepare("UPDATE run_commands SET state = 1 WHERE seq = ? AND state = 0"));
  stmt->Bind(1, seq);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes() == 1;
}

absl::Status RunCommandRepository::Answer(Transaction& tx, int64_t seq,
                                          const absl::Status& answer) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("UPDATE run_commands SET state = 2, code = ?, "
                                         "message = ? WHERE seq = ?"));
  stmt->Bind(1, static_cast<int64_t>(answer.code()))
      .Bind(2, std::string(answer.message()))
      .Bind(3, seq);
  return stmt->Run();
}

absl::StatusOr<bool> RunCommandRepository::Remove(Transaction& tx, int64_t seq,
                                                  bool only_waiting) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM run_commands WHERE seq = ? AND "
                                         "(state = 0 OR ? = 0)"));
  stmt->Bind(1, seq).Bind(2, static_cast<int64_t>(only_waiting ? 1 : 0));
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes() == 1;
}

absl::StatusOr<int64_t> RunCommandRepository::DeleteOlder(Transaction& tx,
                                                          int64_t before_ms) const {
  ASSIGN_OR_RETURN(auto stmt, tx.Prepare("DELETE FROM run_commands WHERE created_ms < ?"));
  stmt->Bind(1, before_ms);
  RETURN_IF_ERROR(stmt->Run());
  return tx.Changes();
}

}  // namespace slipway::storage
