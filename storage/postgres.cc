#include "storage/postgres.h"

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/connection.h"

namespace slipway::storage {
namespace {

std::atomic<uint64_t> round_trips{0};
void CountRoundTrip() { round_trips.fetch_add(1, std::memory_order_relaxed); }

// Type oids of the parameters Slipway binds (pg_type.h; stable since PostgreSQL 7).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kBoolOid = 16;

// The key of the one advisory lock every write transaction takes ("slipway" in ASCII).
constexpr const char* kBeginWrite =
    "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '5s'; "
    "SET LOCAL lock_timeout = '20s'; SELECT pg_advisory_xact_lock(32493894311829881)";
constexpr const char* kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
// Rows a cursor brings back per round trip.
constexpr int kFetchRows = 256;

std::string FirstLine(absl::string_view text) {
  absl::string_view line = text.substr(0, text.find('\n'));
  return std::string(absl::StripAsciiWhitespace(line));
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

  PgConnection* conn_;
  const PgSql* sql_;
  std::vector<std::string> values_;
  std::vector<Oid> types_;
  std::vector<char> set_;
  absl::Status bind_status_;
  bool executed_ = false;
  Result res_;
  int row_ = -1;
  int rows_ = 0;
  bool more_ = false;
  std::string cursor_;
};

class PgConnection : public Connection {
 public:
  PgConnection(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
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

  int64_t Changes() const override { return changes_; }
  void set_changes(int64_t n) { changes_ = n; }
  std::string NextCursor() { return absl::StrCat("slipway_c", ++cursors_); }

  absl::Status BeginWrite() override {
    RETURN_IF_ERROR(EnsureConnected());
    absl::Status s = Simple(kBeginWrite, "begin write");
    if (!s.ok() && InTransaction()) Simple("ROLLBACK", "rollback").IgnoreError();
    return s;
  }
  absl::Status BeginRead() override {
    RETURN_IF_ERROR(EnsureConnected());
    return Simple(kBeginRead, "begin read");
  }
  bool InTransaction() const override {
    PGTransactionStatusType t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
  }

  absl::Status Simple(const char* sql, std::string_view what) {
    CountRoundTrip();
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
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("storage: connect to ", name_, ": ", FirstLine(PQerrorMessage(conn_))));
  }

  PGconn* conn_;
  std::string name_;
  absl::flat_hash_map<const char*, std::unique_ptr<PgSql>> cache_;
  int64_t changes_ = 0;
  uint64_t cursors_ = 0;
};

absl::Status PgStatement::Execute() {
  const int n = sql_->params;
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n, 1);
  for (int i = 0; i < n; ++i) {
    values[i] = set_[i] != 0 ? values_[i].data() : nullptr;
    lengths[i] = static_cast<int>(values_[i].size());
  }
  std::string declare;
  const char* text = sql_->text.c_str();
  if (sql_->cursor) {
    cursor_ = conn_->NextCursor();
    declare = absl::StrCat("DECLARE ", cursor_, " NO SCROLL CURSOR FOR ", sql_->text);
    text = declare.c_str();
  }
  CountRoundTrip();
  Result r(PQexecParams(conn_->raw(), text, n, types_.data(), values.data(), lengths.data(),
                        formats.data(), /*resultFormat=*/0));
  if (!r.ok()) return PgStatus(conn_->raw(), r.res, sql_->text);
  if (sql_->cursor) return Fetch();
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

absl::StatusOr<std::unique_ptr<Connection>> ConnectPostgres(const std::string& conninfo) {
  // Defaults first: what the connection string says wins (expand_dbname).
  const char* keys[] = {
      "connect_timeout",     "application_name", "client_encoding", "keepalives_idle",
      "keepalives_interval", "keepalives_count", "dbname",          nullptr};
  const char* values[] = {"5", "slipwayd", "UTF8", "10", "5", "2", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  std::string name = MaskConnectionString(conninfo);
  if (conn == nullptr) return absl::ResourceExhaustedError("storage: connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = FirstLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("storage: connect to ", name, ": ", why));
  }
  return std::make_unique<PgConnection>(conn, std::move(name));
}

std::string MaskConnectionString(std::string_view conninfo) {
  std::string out(conninfo);
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t path = out.find_first_of("/?", start);
    const size_t at = out.rfind('@', path == std::string::npos ? out.size() : path);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=… as a key=value pair or a URI query parameter.
  size_t pos = 0;
  while ((pos = out.find("password", pos)) != std::string::npos) {
    size_t eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ') ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos = eq;
      continue;
    }
    size_t begin = eq + 1;
    while (begin < out.size() && out[begin] == ' ') ++begin;
    size_t end = begin;
    if (end < out.size() && out[end] == '\'') {
      ++end;
      while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      while (end < out.size() && out[end] != ' ' && out[end] != '&') ++end;
    }
    out.replace(begin, end - begin, "***");
    pos = begin + 3;
  }
  return out;
}

std::string TranslateParameters(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 0;
  int highest = 0;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      out += c;
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    size_t j = i + 1;
    int n = 0;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') n = n * 10 + (sql[j++] - '0');
    if (j == i + 1)
      n = ++next;  // a bare ? is the next after the highest so far, as in SQLite
    else
      next = std::max(next, n);
    highest = std::max(highest, n);
    absl::StrAppend(&out, "$", n);
    i = j - 1;
  }
  *count = highest;
  return out;
}

uint64_t PostgresRoundTrips() { return round_trips.load(std::memory_order_relaxed); }

}  // namespace slipway::storage
