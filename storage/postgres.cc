#include "storage/postgres.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/connection.h"
#include "storage/store_url.h"

namespace slipway::storage {
namespace {

std::atomic<uint64_t> round_trips{0};
std::atomic<uint64_t> writer_round_trips{0};
// `writing`: in a write transaction (its end included).
void CountRoundTrip(bool writing = false) {
  round_trips.fetch_add(1, std::memory_order_relaxed);
  if (writing) writer_round_trips.fetch_add(1, std::memory_order_relaxed);
}

// Type oids of the parameters Slipway binds (pg_type.h; stable since PostgreSQL 7).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kBoolOid = 16;

constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
// How a write transaction starts: bounded waits, then the one advisory lock every write
// transaction takes (its key is "slipway" in ASCII). One statement each, as pipeline mode wants.
const std::vector<const std::string*>& BeginWriteStatements() {
  static const auto* statements = new std::vector<const std::string*>{
      new std::string("BEGIN"),
      new std::string("SET LOCAL idle_in_transaction_session_timeout = '5s'"),
      new std::string("SET LOCAL lock_timeout = '20s'"),
      new std::string("SELECT pg_advisory_xact_lock(32493894311829881)")};
  return *statements;
}
// Rows a cursor brings back per round trip.
constexpr int kFetchRows = 256;

std::string FirstLine(absl::string_view text) {
  absl::string_view line = text.substr(0, text.find('\n'));
  return std::string(absl::StripAsciiWhitespace(line));
}

// A prepared statement missing (26000) or doubled (42P05): the session is shared with other
// clients, through a transaction pooler the store URL does not name.
bool IsForeignSessionState(absl::string_view sqlstate) {
  return sqlstate == "26000" || sqlstate == "42P05";
}

// The status of a failed command. SQLSTATE classes: 23 integrity (ALREADY_EXISTS, as SQLite's
// constraint errors), 08 connection, 57P admin shutdown, 40 rollback (serialization, deadlock),
// 55P03 lock timeout, 53300 too many connections (UNAVAILABLE), 53100 disk full
// (RESOURCE_EXHAUSTED), XX001/XX002 corruption (DATA_LOSS), 22 bad data (INVALID_ARGUMENT).
// Only the primary message is kept: the detail can quote stored values.
absl::Status PgStatus(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string detail = primary != nullptr ? primary : FirstLine(PQerrorMessage(conn));
  std::string msg = absl::StrCat("storage: ", std::string(what), ": ", detail);
  if (PQstatus(conn) == CONNECTION_BAD || state == nullptr) return absl::UnavailableError(msg);
  absl::string_view s(state);
  if (absl::StartsWith(s, "23")) return absl::AlreadyExistsError(msg);
  if (absl::StartsWith(s, "08") || absl::StartsWith(s, "57P") || absl::StartsWith(s, "40") ||
      s == "55P03" || s == "53300") {
    return absl::UnavailableError(msg);
  }
  // A prepared statement missing or doubled: sessions shared through a transaction pooler the
  // store URL does not name. Preparing is off after it (PgConnection::NoteForeignSession); a retry
  // succeeds.
  if (IsForeignSessionState(s)) {
    return absl::UnavailableError(absl::StrCat(
        msg,
        " (a transaction pooler between Slipway and PostgreSQL? add pooler=transaction to "
        "the store URL)"));
  }
  if (absl::StartsWith(s, "53")) return absl::ResourceExhaustedError(msg);
  if (s == "XX001" || s == "XX002") return absl::DataLossError(msg);
  if (absl::StartsWith(s, "22")) return absl::InvalidArgumentError(msg);
  if (s == "25006" || absl::StartsWith(s, "42501")) return absl::FailedPreconditionError(msg);
  return absl::InternalError(msg);
}

struct Result {
  PGresult* res = nullptr;
  Result() = default;
  explicit Result(PGresult* r) : res(r) {}
  Result(Result&& o) noexcept : res(std::exchange(o.res, nullptr)) {}
  Result& operator=(Result&& o) noexcept {
    if (this != &o) {
      PQclear(res);
      res = std::exchange(o.res, nullptr);
    }
    return *this;
  }
  ~Result() { PQclear(res); }
  bool ok() const {
    ExecStatusType st = PQresultStatus(res);
    return res != nullptr && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
  }
};

// The answer of a statement sent ahead of its Step (Statement::Prefetch), filled in when the
// round trip it rides in is read.
struct Prefetched {
  bool done = false;
  absl::Status status;
  Result res;
};

// A repository statement in PostgreSQL's words, translated once per connection.
struct PgSql {
  std::string text;
  int params = 0;
  // A SELECT that orders and has no LIMIT: its caller may stop reading early (after filtering
  // rows), so its rows come through a cursor, a page at a time, instead of all at once.
  bool cursor = false;
};

class PgConnection;

class PgStatement : public Statement {
 public:
  PgStatement(PgConnection* conn, const PgSql* sql)
      : conn_(conn),
        sql_(sql),
        values_(sql->params),
        types_(sql->params, 0),
        set_(sql->params, 0) {}

  Statement& Bind(int index, std::string_view text) override {
    return Set(index, std::string(text), kTextOid);
  }
  Statement& BindBlob(int index, std::string_view bytes) override {
    return Set(index, std::string(bytes), kByteaOid);
  }
  Statement& Bind(int index, int64_t value) override {
    auto u = static_cast<uint64_t>(value);
    std::string be(8, '\0');
    for (int i = 7; i >= 0; --i, u >>= 8) be[i] = static_cast<char>(u & 0xff);
    return Set(index, std::move(be), kInt8Oid);
  }
  Statement& BindNull(int index) override {
    if (!InRange(index)) return *this;
    set_[index - 1] = 0;
    types_[index - 1] = 0;
    return *this;
  }

  absl::StatusOr<bool> Step() override;
  absl::Status RunLater(absl::Status duplicate) override;
  absl::Status Prefetch() override;

  // The parameters in libpq's form; they point into the statement's values.
  struct Params {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };

  std::string ColumnText(int index) const override {
    if (ColumnIsNull(index)) return std::string();
    return std::string(PQgetvalue(res_.res, row_, index), PQgetlength(res_.res, row_, index));
  }
  std::string ColumnBlob(int index) const override;
  int64_t ColumnInt(int index) const override {
    if (ColumnIsNull(index)) return 0;
    const char* v = PQgetvalue(res_.res, row_, index);
    if (PQftype(res_.res, index) == kBoolOid) return v[0] == 't' ? 1 : 0;
    int64_t out = 0;
    return absl::SimpleAtoi(v, &out) ? out : 0;
  }
  bool ColumnIsNull(int index) const override {
    return res_.res == nullptr || PQgetisnull(res_.res, row_, index) != 0;
  }

 private:
  Params Parameters() const;
  bool InRange(int index) {
    if (index >= 1 && index <= sql_->params) return true;
    if (bind_status_.ok()) {
      bind_status_ = absl::InternalError(absl::StrCat("storage: bind: parameter ", index, " of ",
                                                      sql_->params, " in ", sql_->text));
    }
    return false;
  }
  Statement& Set(int index, std::string value, Oid type) {
    if (!InRange(index)) return *this;
    values_[index - 1] = std::move(value);
    types_[index - 1] = type;
    set_[index - 1] = 1;
    return *this;
  }
  absl::Status Execute();
  absl::Status Fetch();
  bool PagesThroughCursor() const;

  PgConnection* conn_;
  const PgSql* sql_;
  std::vector<std::string> values_;
  std::vector<Oid> types_;
  std::vector<char> set_;
  absl::Status bind_status_;
  bool executed_ = false;
  std::shared_ptr<Prefetched> prefetched_;  // sent ahead, not stepped yet
  Result res_;
  int row_ = -1;
  int rows_ = 0;
  bool more_ = false;
  std::string cursor_;
};

class PgConnection : public Connection {
 public:
  PgConnection(PGconn* conn, std::string name, std::shared_ptr<PostgresSessions> sessions)
      : conn_(conn), name_(std::move(name)), sessions_(std::move(sessions)) {}
  ~PgConnection() override { PQfinish(conn_); }
  PGconn* raw() { return conn_; }

  absl::Status Exec(const char* sql) override { return Simple(sql, "migrate"); }
  absl::Status Control(const char* sql) override { return Simple(sql, sql); }

  absl::StatusOr<std::unique_ptr<Statement>> Prepare(const char* sql) override {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      auto translated = std::make_unique<PgSql>();
      translated->text = TranslateParameters(sql, &translated->params);
      const std::string upper = absl::AsciiStrToUpper(translated->text);
      translated->cursor = absl::StartsWith(upper, "SELECT") &&
                           absl::StrContains(upper, " ORDER BY ") &&
                           !absl::StrContains(upper, " LIMIT ");
      it = cache_.emplace(sql, std::move(translated)).first;
    }
    return std::make_unique<PgStatement>(this, it->second.get());
  }

  int64_t Changes() override {
    Note(Drain());
    return changes_;
  }
  void set_changes(int64_t n) { changes_ = n; }
  std::string NextCursor() { return absl::StrCat("slipway_c", ++cursors_); }

  // Pipelining (libpq's pipeline mode, PostgreSQL 14's libpq or later). Inside a transaction,
  // a statement whose answer nobody waits for (Statement::RunLater, ControlLater, the BEGIN
  // statements) is only sent; the next statement that needs an answer is sent behind them and
  // one round trip brings back every answer. Statements still run in the order they were
  // issued, and the first error among them is the one reported.
  absl::Status BeginWrite() override {
    Drain().IgnoreError();  // a read's COMMIT, or what a broken transaction left
    deferred_error_ = absl::OkStatus();
    RETURN_IF_ERROR(EnsureConnected());
    in_tx_ = true;
    write_ = true;
    for (const std::string* sql : BeginWriteStatements()) {
      absl::Status sent = Send(sql, 0, nullptr, PgStatement::Params{}, absl::OkStatus());
      if (!sent.ok()) {
        Drain().IgnoreError();
        if (InTransaction()) Simple("ROLLBACK", "rollback").IgnoreError();
        in_tx_ = false;
        return sent;
      }
    }
    return absl::OkStatus();
  }
  absl::Status BeginRead() override {
    Drain().IgnoreError();
    deferred_error_ = absl::OkStatus();
    RETURN_IF_ERROR(EnsureConnected());
    in_tx_ = true;
    write_ = false;
    static const std::string* const begin = new std::string(kBeginRead);
    absl::Status sent = Send(begin, 0, nullptr, PgStatement::Params{}, absl::OkStatus());
    if (!sent.ok()) in_tx_ = false;
    return sent;
  }
  // A read's COMMIT is sent and not waited for: the snapshot has served its reads. Its answer
  // is read when the connection is next used.
  absl::Status EndRead() override {
    if (!CanSend()) return Control("COMMIT");
    static const std::string* const commit = new std::string("COMMIT");
    absl::Status sent = Send(commit, 0, nullptr, PgStatement::Params{}, absl::OkStatus());
    in_tx_ = false;
    if (!sent.ok()) return sent;
    if (PQpipelineSync(conn_) != 1) return PgStatus(conn_, nullptr, "pipeline sync");
    ++syncs_;
    unsynced_ = 0;
    return absl::OkStatus();
  }

  // Sends `sql` with its parameters. `statement`: a repository statement (not BEGIN, COMMIT or
  // a savepoint), which runs as a named prepared statement where the store allows it.
  absl::Status Send(const std::string* sql, int n, const Oid* types, const PgStatement::Params& p,
                    absl::Status duplicate, bool statement = false,
                    std::shared_ptr<Prefetched> answer = nullptr) {
    if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) {
      return PgStatus(conn_, nullptr, "pipeline mode");
    }
    const std::string* name = statement ? PreparedName(sql, n, types) : nullptr;
    const int sent = name != nullptr
                         ? PQsendQueryPrepared(conn_, name->c_str(), n, p.values.data(),
                                               p.lengths.data(), p.formats.data(), 0)
                         : PQsendQueryParams(conn_, sql->c_str(), n, types, p.values.data(),
                                             p.lengths.data(), p.formats.data(), 0);
    if (sent != 1) return PgStatus(conn_, nullptr, *sql);
    sent_.push_back({sql, std::move(duplicate), {}, std::move(answer)});
    ++unsynced_;
    return absl::OkStatus();
  }

  // The name under which `sql` with these parameter types is prepared on this session, sending
  // its Parse first the first time (it rides in the same round trip). Null: not prepared (the
  // store is reached through a transaction pooler, or the session holds kMaxPrepared already).
  // The name is a hash of the store, the text and the types: a session that has a statement of
  // that name has this statement, whoever prepared it.
  const std::string* PreparedName(const std::string* sql, int n, const Oid* types) {
    if (!sessions_->prepare.load(std::memory_order_relaxed)) return nullptr;
    const auto address = reinterpret_cast<uintptr_t>(sql);
    std::string key(reinterpret_cast<const char*>(&address), sizeof(address));
    if (n > 0) key.append(reinterpret_cast<const char*>(types), sizeof(Oid) * n);
    auto it = prepared_.find(key);
    if (it != prepared_.end()) return &it->second;
    if (prepared_.size() >= kMaxPrepared) return nullptr;
    const std::string name = absl::StrCat(
        "slipway_",
        absl::Hex(absl::HashOf(name_, *sql, std::string_view(key).substr(sizeof(address)))));
    if (PQsendPrepare(conn_, name.c_str(), sql->c_str(), n, types) != 1) return nullptr;
    it = prepared_.emplace(key, name).first;
    sent_.push_back({sql, absl::OkStatus(), key});
    ++unsynced_;
    return &it->second;
  }
  bool CanSend() const { return in_tx_ && PQstatus(conn_) == CONNECTION_OK; }
  bool in_write() const { return in_tx_ && write_; }

  // Reads the answers of everything sent; returns the first error among them. With `last`, the
  // answer of the statement sent last is kept there (its rows).
  absl::Status Drain(Result* last = nullptr, bool* last_failed = nullptr) {
    if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF) return absl::OkStatus();
    absl::Status first;
    if (unsynced_ > 0) {
      if (PQpipelineSync(conn_) != 1) first = PgStatus(conn_, nullptr, "pipeline sync");
      ++syncs_;
      unsynced_ = 0;
    }
    if (!sent_.empty()) CountRoundTrip(in_write());
    size_t index = 0;  // the statement whose answer comes next; each ends with a null
    int nulls = 0;
    while (syncs_ > 0) {
      PGresult* raw = PQgetResult(conn_);
      if (raw == nullptr) {
        if (++nulls >= 2) break;  // nothing more is coming (the connection broke)
        ++index;
        continue;
      }
      nulls = 0;
      Result r(raw);
      const ExecStatusType st = PQresultStatus(raw);
      if (st == PGRES_PIPELINE_SYNC) {
        --syncs_;
        continue;
      }
      if (index < sent_.size() && !sent_[index].prepare.empty() && st != PGRES_COMMAND_OK) {
        prepared_.erase(sent_[index].prepare);  // not prepared: the next use sends it again
      }
      Prefetched* answer = index < sent_.size() ? sent_[index].answer.get() : nullptr;
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        int64_t count = 0;
        const char* changed = PQcmdTuples(raw);
        if (changed != nullptr && absl::SimpleAtoi(changed, &count)) changes_ = count;
        if (answer != nullptr) {
          answer->res = std::move(r);
          answer->done = true;
        } else if (last != nullptr && index + 1 == sent_.size()) {
          *last = std::move(r);
        }
      } else if (st != PGRES_PIPELINE_ABORTED && first.ok()) {
        NoteForeignSession(raw);
        const Sent* what = index < sent_.size() ? &sent_[index] : nullptr;
        first = PgStatus(conn_, raw, what != nullptr ? *what->sql : "pipeline");
        if (what != nullptr && absl::IsAlreadyExists(first) && !what->duplicate.ok()) {
          first = what->duplicate;
        }
        if (last_failed != nullptr) *last_failed = index + 1 == sent_.size();
      }
    }
    if (syncs_ > 0 && first.ok()) first = PgStatus(conn_, nullptr, "pipeline");
    // A statement sent ahead that has no rows now failed, or did not run after another failed.
    for (Sent& s : sent_) {
      if (s.answer == nullptr || s.answer->done) continue;
      s.answer->done = true;
      s.answer->status =
          first.ok() ? absl::UnavailableError("storage: no answer to " + *s.sql) : first;
    }
    sent_.clear();
    syncs_ = 0;
    unsynced_ = 0;
    if (PQexitPipelineMode(conn_) != 1 && first.ok()) {
      first = PgStatus(conn_, nullptr, "pipeline mode");
    }
    return first;
  }
  // A prepared statement that this session should hold is missing, or one it has not prepared
  // exists: the session is shared with other clients, so a transaction pooler sits in between
  // that the store URL does not mention. No session of this store prepares from now on.
  void NoteForeignSession(const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == nullptr || !IsForeignSessionState(state)) return;
    if (sessions_->prepare.exchange(false)) {
      spdlog::warn(
          "storage: {} shares its sessions with other clients (a transaction pooler?): statements "
          "are no longer prepared; add pooler=transaction to the store URL",
          name_);
    }
  }
  // Keeps the first error of the sent statements for Flush.
  void Note(absl::Status s) {
    if (deferred_error_.ok()) deferred_error_ = std::move(s);
  }

  absl::Status ControlLater(const char* sql) override {
    if (!CanSend()) return Control(sql);
    auto it = control_texts_.find(sql);
    if (it == control_texts_.end()) it = control_texts_.emplace(sql, std::string(sql)).first;
    return Send(&it->second, 0, nullptr, PgStatement::Params{}, absl::OkStatus());
  }
  absl::Status Flush() override {
    Note(Drain());
    return std::exchange(deferred_error_, absl::OkStatus());
  }
  bool InTransaction() const override {
    if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) return in_tx_;
    PGTransactionStatusType t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
  }

  absl::Status Simple(const char* sql, std::string_view what) {
    absl::Status drained = Drain();
    const bool rollback = absl::StartsWith(sql, "ROLLBACK");
    if (!drained.ok()) {
      Note(drained);
      // The transaction is aborted: only a rollback means anything now (a COMMIT would roll
      // back and report success).
      if (!rollback) return drained;
    }
    CountRoundTrip(in_write());
    if (std::strcmp(sql, "COMMIT") == 0 || std::strcmp(sql, "ROLLBACK") == 0) in_tx_ = false;
    Result r(PQexec(conn_, sql));
    if (!r.ok()) return PgStatus(conn_, r.res, what);
    return absl::OkStatus();
  }

 private:
  // A connection the server dropped (restart, idle timeout, network) is opened again here,
  // between transactions.
  absl::Status EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    PQreset(conn_);
    prepared_.clear();  // a new session has none
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("storage: connect to ", name_, ": ", FirstLine(PQerrorMessage(conn_))));
  }

  struct Sent {
    const std::string* sql;
    absl::Status duplicate;
    std::string prepare;                 // for a Parse: the prepared_ key it creates
    std::shared_ptr<Prefetched> answer;  // for a statement sent ahead of its Step
  };
  // Statements one session keeps prepared; beyond it they run unnamed. Slipway's statements are
  // a few hundred fixed texts, so this is a bound, not a working limit.
  static constexpr size_t kMaxPrepared = 2000;

  PGconn* conn_;
  std::string name_;
  absl::flat_hash_map<const char*, std::unique_ptr<PgSql>> cache_;
  absl::flat_hash_map<const char*, std::string> control_texts_;
  // Prepared on this session: key (the statement text's address and the parameter types) → name.
  absl::flat_hash_map<std::string, std::string> prepared_;
  std::shared_ptr<PostgresSessions> sessions_;
  int64_t changes_ = 0;
  uint64_t cursors_ = 0;
  bool in_tx_ = false;
  bool write_ = false;
  std::vector<Sent> sent_;  // sent, answers not read yet
  int unsynced_ = 0;        // of those, sent after the last sync
  int syncs_ = 0;           // syncs sent whose answer is not read yet
  absl::Status deferred_error_;
};

PgStatement::Params PgStatement::Parameters() const {
  const int n = sql_->params;
  Params p{std::vector<const char*>(n), std::vector<int>(n), std::vector<int>(n, 1)};
  for (int i = 0; i < n; ++i) {
    p.values[i] = set_[i] != 0 ? values_[i].data() : nullptr;
    p.lengths[i] = static_cast<int>(values_[i].size());
  }
  return p;
}

// An ordered read without LIMIT in a read transaction pages through a cursor. Inside a write
// transaction the rows come at once: it is short and holds the write lock, and a cursor costs
// two round trips more.
bool PgStatement::PagesThroughCursor() const { return sql_->cursor && !conn_->in_write(); }

absl::Status PgStatement::RunLater(absl::Status duplicate) {
  if (sql_->cursor || executed_ || !conn_->CanSend()) return Statement::RunLater(duplicate);
  RETURN_IF_ERROR(bind_status_);
  executed_ = true;
  return conn_->Send(&sql_->text, sql_->params, types_.data(), Parameters(), std::move(duplicate),
                     /*statement=*/true);
}

absl::Status PgStatement::Prefetch() {
  if (PagesThroughCursor() || executed_ || !conn_->CanSend()) return absl::OkStatus();
  RETURN_IF_ERROR(bind_status_);
  executed_ = true;
  prefetched_ = std::make_shared<Prefetched>();
  return conn_->Send(&sql_->text, sql_->params, types_.data(), Parameters(), absl::OkStatus(),
                     /*statement=*/true, prefetched_);
}

absl::Status PgStatement::Execute() {
  const int n = sql_->params;
  const Params p = Parameters();
  const bool cursor = PagesThroughCursor();
  if (!cursor && conn_->CanSend()) {
    // Behind whatever was sent before it: one round trip for all.
    absl::Status sent =
        conn_->Send(&sql_->text, n, types_.data(), p, absl::OkStatus(), /*statement=*/true);
    Result r;
    bool mine = false;  // whether the first error is this statement's own (its caller's to handle)
    absl::Status drained = conn_->Drain(&r, &mine);
    if (drained.ok() && !sent.ok()) {
      drained = sent;
      mine = true;
    }
    if (!drained.ok()) {
      if (!mine) conn_->Note(drained);
      return drained;
    }
    if (r.res == nullptr) return absl::UnavailableError("storage: no answer to " + sql_->text);
    rows_ = PQntuples(r.res);
    res_ = std::move(r);
    return absl::OkStatus();
  }
  if (absl::Status drained = conn_->Drain(); !drained.ok()) {
    conn_->Note(drained);
    return drained;
  }
  std::string declare;
  const char* text = sql_->text.c_str();
  if (cursor) {
    cursor_ = conn_->NextCursor();
    declare = absl::StrCat("DECLARE ", cursor_, " NO SCROLL CURSOR FOR ", sql_->text);
    text = declare.c_str();
  }
  CountRoundTrip();
  Result r(PQexecParams(conn_->raw(), text, n, types_.data(), p.values.data(), p.lengths.data(),
                        p.formats.data(), /*resultFormat=*/0));
  if (!r.ok()) return PgStatus(conn_->raw(), r.res, sql_->text);
  if (cursor) return Fetch();
  const char* changed = PQcmdTuples(r.res);
  int64_t count = 0;
  if (changed != nullptr && changed[0] != '\0' && absl::SimpleAtoi(changed, &count)) {
    conn_->set_changes(count);
  }
  rows_ = PQntuples(r.res);
  res_ = std::move(r);
  return absl::OkStatus();
}

absl::Status PgStatement::Fetch() {
  std::string fetch = absl::StrCat("FETCH ", kFetchRows, " FROM ", cursor_);
  CountRoundTrip();
  Result r(PQexec(conn_->raw(), fetch.c_str()));
  if (!r.ok()) return PgStatus(conn_->raw(), r.res, sql_->text);
  rows_ = PQntuples(r.res);
  more_ = rows_ == kFetchRows;
  res_ = std::move(r);
  return absl::OkStatus();
}

absl::StatusOr<bool> PgStatement::Step() {
  if (prefetched_ != nullptr) {
    const std::shared_ptr<Prefetched> answer = std::move(prefetched_);
    if (!answer->done) {
      // Its round trip has not been read yet: read it now (one for everything sent).
      if (absl::Status drained = conn_->Drain(); !drained.ok()) conn_->Note(drained);
    }
    RETURN_IF_ERROR(answer->status);
    if (answer->res.res == nullptr)
      return absl::UnavailableError("storage: no answer to " + sql_->text);
    res_ = std::move(answer->res);
    rows_ = PQntuples(res_.res);
    row_ = -1;
  }
  if (!executed_) {
    RETURN_IF_ERROR(bind_status_);
    executed_ = true;
    RETURN_IF_ERROR(Execute());
    row_ = -1;
  }
  if (++row_ < rows_) return true;
  if (!more_) return false;
  RETURN_IF_ERROR(Fetch());
  row_ = 0;
  return rows_ > 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PgStatement::ColumnBlob(int index) const {
  if (ColumnIsNull(index)) return std::string();
  const char* v = PQgetvalue(res_.res, row_, index);
  const int len = PQgetlength(res_.res, row_, index);
  if (PQftype(res_.res, index) != kByteaOid) return std::string(v, len);
  // bytea_output = hex (the default since PostgreSQL 9.0): "\x" then two digits a byte.
  if (len < 2 || v[0] != '\\' || v[1] != 'x') {
    size_t n = 0;
    unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
    std::string out(reinterpret_cast<const char*>(raw), raw != nullptr ? n : 0);
    PQfreemem(raw);
    return out;
  }
  std::string out((len - 2) / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>((HexValue(v[2 + 2 * i]) << 4) | HexValue(v[3 + 2 * i]));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> ConnectPostgres(
    const std::string& conninfo, std::shared_ptr<PostgresSessions> sessions) {
  if (sessions == nullptr) sessions = std::make_shared<PostgresSessions>();
  bool pooled = false;
  ASSIGN_OR_RETURN(const std::string libpq_conninfo, WithoutPooler(conninfo, &pooled));
  if (pooled) sessions->prepare.store(false);
  // Defaults first: what the connection string says wins (expand_dbname).
  const char* keys[] = {
      "connect_timeout",     "application_name", "client_encoding", "keepalives_idle",
      "keepalives_interval", "keepalives_count", "dbname",          nullptr};
  const char* values[] = {"5", "slipwayd", "UTF8", "10", "5", "2", libpq_conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  std::string name = MaskConnectionString(conninfo);
  if (conn == nullptr) return absl::ResourceExhaustedError("storage: connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = FirstLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("storage: connect to ", name, ": ", why));
  }
  return std::make_unique<PgConnection>(conn, std::move(name), std::move(sessions));
}

uint64_t PostgresRoundTrips() { return round_trips.load(std::memory_order_relaxed); }
uint64_t PostgresWriterRoundTrips() { return writer_round_trips.load(std::memory_order_relaxed); }

}  // namespace slipway::storage
