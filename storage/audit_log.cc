#include "storage/audit_log.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/private_files.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "common/url_credentials.h"
#include "common/utf8.h"
#include "google/protobuf/util/json_util.h"

namespace slipway::storage {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kMaxFilterBytes = 512;

}  // namespace

std::string OutcomeOf(const absl::Status& status) {
  if (status.ok()) return "OK";
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&file_mu_);
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status AuditLog::ShipTo(const std::string& path) {
  RETURN_IF_ERROR(MakePrivateFile(path));
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit file ", path, ": cannot be opened for appending"));
  }
  absl::MutexLock lock(&file_mu_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = f;
  return absl::OkStatus();
}

void AuditLog::Normalize(v1::AuditRecord& r) const {
  if (!r.has_time()) *r.mutable_time() = ProtoTime(clock_->Now());
  std::string outcome = SanitizeText(MaskUrlCredentials(r.outcome()), kMaxAuditOutcomeBytes);
  r.set_outcome(std::move(outcome));
  r.set_target(SanitizeText(r.target(), 512));
  r.set_actor_description(SanitizeText(r.actor_description(), 512));
  r.set_request_id(SanitizeText(r.request_id(), 128));
}

void AuditLog::Ship(const v1::AuditRecord& record) {
  absl::MutexLock lock(&file_mu_);
  if (file_ == nullptr) return;
  std::string line;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(record, &line, options).ok()) return;
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    spdlog::warn("audit file: a record could not be written");
  }
}

absl::Status AuditLog::Record(v1::AuditRecord record) {
  Normalize(record);
  absl::Status s = db_->Write([&](Transaction& tx) { return AppendNormalized(tx, record); });
  if (!s.ok()) {
    spdlog::error("audit: the record of {} on {} was not stored: {}", record.action(),
                  record.target(), std::string(s.message()));
  }
  return s;
}

absl::Status AuditLog::Append(Transaction& tx, v1::AuditRecord record) {
  Normalize(record);
  return AppendNormalized(tx, std::move(record));
}

absl::Status AuditLog::AppendNormalized(Transaction& tx, v1::AuditRecord record) {
  auto appended = std::make_shared<v1::AuditRecord>(std::move(record));
  RETURN_IF_ERROR(
      repo_.AppendThen(tx, *appended, [appended](int64_t seq) { appended->set_sequence(seq); }));
  tx.AfterCommit([this, appended] { Ship(*appended); });
  return absl::OkStatus();
}

WriteRider AuditLog::Rider(const std::shared_ptr<v1::AuditRecord>& record) {
  Normalize(*record);
  WriteRider rider;
  rider.append = [this, record](Transaction& tx) -> absl::Status {
    return repo_.AppendThen(tx, *record, [record](int64_t seq) { record->set_sequence(seq); });
  };
  return rider;
}

absl::StatusOr<v1::ListAuditRecordsResponse> AuditLog::List(
    const v1::ListAuditRecordsRequest& request) {
  AuditQuery q;
  q.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (q.limit < 0 || q.limit > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", request.page_size(), " is outside 1-", kMaxPageSize));
  }
  if (!request.page_token().empty() &&
      (request.page_token().size() > 19 ||
       !absl::SimpleAtoi(request.page_token(), &q.before_sequence) || q.before_sequence <= 0)) {
    return absl::InvalidArgumentError(
        "page_token: not a token returned by ListAuditRecords; start again without it");
  }
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"actor", &request.actor()},
        {"target", &request.target()},
        {"action", &request.action()}}) {
    if (value->size() > kMaxFilterBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": at most ", kMaxFilterBytes, " bytes"));
    }
  }
  if (request.has_since()) {
    auto since = TimeFromProto(request.since());
    if (!since.has_value()) return absl::InvalidArgumentError("since: not a valid time");
    q.since_ms = absl::ToUnixMillis(*since);
  }
  q.actor = request.actor();
  q.target = request.target();
  q.action = request.action();
  v1::ListAuditRecordsResponse out;
  RETURN_IF_ERROR(db_->Read([&](Transaction& tx) -> absl::Status {
    const int limit = q.limit;
    q.limit = limit + 1;
    ASSIGN_OR_RETURN(auto records, repo_.List(tx, q));
    for (size_t i = 0; i < records.size() && i < static_cast<size_t>(limit); ++i) {
      *out.add_records() = std::move(records[i]);
    }
    if (records.size() > static_cast<size_t>(limit)) {
      out.set_next_page_token(absl::StrCat(out.records(limit - 1).sequence()));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<int64_t> AuditLog::Prune(absl::Duration keep) {
  const int64_t before = absl::ToUnixMillis(clock_->Now() - keep);
  int64_t deleted = 0;
  RETURN_IF_ERROR(db_->Write([&](Transaction& tx) -> absl::Status {
    ASSIGN_OR_RETURN(deleted, repo_.PruneBefore(tx, before));
    return absl::OkStatus();
  }));
  return deleted;
}

}  // namespace slipway::storage
