// Migration 12: rows written when times and durations were text come back as Timestamps and
// Durations. The old rows are written byte for byte as the old encoding had them.
#include "storage/time_migration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/proto_time.h"
#include "storage/database.h"
#include "storage/pipeline_repository.h"
#include "storage/run_repository.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// A length-delimited field as the old encoding wrote a time or duration: its text.
std::string TextField(const google::protobuf::Descriptor* d, const char* name,
                      std::string_view text) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName(name);
  EXPECT_NE(f, nullptr) << name;
  std::string out;
  AppendVarint(&out, (static_cast<uint64_t>(f->number()) << 3) | 2);
  AppendVarint(&out, text.size());
  out.append(text);
  return out;
}

absl::Status Exec(Database& db, const char* sql, const std::string& blob = "",
                  const std::string& key = "") {
  return db.Write([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    if (!blob.empty()) (*stmt)->BindBlob(1, blob).Bind(2, key);
    return (*stmt)->Run();
  });
}

absl::Time At(const char* text) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &t, &err)) << err;
  return t;
}

TEST(TimeMigrationTest, RowsWrittenAsTextReadBackAsTimestampsAndDurations) {
  testing::TempDir dir;
  const std::string path = dir.File("db");
  {
    auto db = Database::Open({.path = path});
    ASSERT_OK(db);
    v1::Pipeline p = testing::MinimalPipeline("shop");
    p.set_uid("u1");
    p.clear_sources();
    v1::Run run;
    run.set_id("run-1");
    run.set_pipeline("shop");
    run.set_stage("prod");
    v1::StageHold hold;
    hold.set_pipeline("shop");
    hold.set_stage("prod");
    hold.set_reason("rolled back");
    ASSERT_OK((*db)->Write([&](Transaction& tx) -> absl::Status {
      if (auto s = PipelineRepository().Insert(tx, p); !s.ok()) return s;
      if (auto s = RunRepository().Insert(tx, run); !s.ok()) return s.status();
      return StageHoldRepository().Put(tx, hold);
    }));

    // The same rows with their times and durations as text.
    v1::Source source;
    source.set_name("app");
    source.set_clone_url("https://git.example.com/shop.git");
    const std::string old_source =
        source.SerializeAsString() + TextField(v1::Source::descriptor(), "poll_interval", "5m");
    const std::string old_pipeline =
        p.SerializeAsString() +
        TextField(v1::Pipeline::descriptor(), "create_time", "2026-12-01T10:00:00.250Z") +
        TextField(v1::Pipeline::descriptor(), "sources", old_source);
    v1::NodeStatus node;
    node.set_path("flow");
    const std::string old_node =
        node.SerializeAsString() +
        TextField(v1::NodeStatus::descriptor(), "deadline", "2026-12-01T10:05:00.000Z") +
        TextField(v1::NodeStatus::descriptor(), "start_time", "2026-12-01T10:00:01.000Z");
    const std::string old_run =
        run.SerializeAsString() +
        TextField(v1::Run::descriptor(), "create_time", "2026-12-01T10:00:00.000Z") +
        TextField(v1::Run::descriptor(), "end_time", "not a time") +
        TextField(v1::Run::descriptor(), "nodes", old_node);
    const std::string old_hold =
        hold.SerializeAsString() +
        TextField(v1::StageHold::descriptor(), "hold_time", "2026-12-01T11:00:00.000Z");
    ASSERT_OK(Exec(**db, "UPDATE pipelines SET spec = ?1 WHERE name = ?2", old_pipeline, "shop"));
    ASSERT_OK(Exec(**db, "UPDATE runs SET spec = ?1 WHERE id = ?2", old_run, "run-1"));
    ASSERT_OK(Exec(**db, "UPDATE stage_holds SET hold = ?1 WHERE pipeline = ?2", old_hold, "shop"));
    ASSERT_OK(Exec(**db, "DROP TABLE pipeline_revisions"));
    ASSERT_OK(Exec(**db, "DROP TABLE audit_records"));
    ASSERT_OK(Exec(**db, "DROP TABLE gitops_bindings"));
    ASSERT_OK(Exec(**db, "DROP TABLE leases"));
    ASSERT_OK(Exec(**db, "DROP TABLE pipeline_changes"));
    ASSERT_OK(Exec(**db, "DROP TABLE run_commands"));
    ASSERT_OK(Exec(**db, "DROP INDEX runs_active_by_seq"));
    ASSERT_OK(Exec(**db, "PRAGMA user_version = 11"));
  }

  auto db = Database::Open({.path = path});
  ASSERT_OK(db);
  EXPECT_EQ((*db)->schema_version(), LatestSchemaVersion());
  v1::Pipeline p;
  v1::Run run;
  std::optional<v1::StageHold> hold;
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    auto got = PipelineRepository().Get(tx, "shop");
    if (!got.ok()) return got.status();
    p = *got;
    auto r = RunRepository().Get(tx, "run-1");
    if (!r.ok()) return r.status();
    run = *r;
    auto h = StageHoldRepository().Get(tx, "shop", "prod");
    if (!h.ok()) return h.status();
    hold = *h;
    return absl::OkStatus();
  }));
  EXPECT_EQ(TimeFromProto(p.create_time()), At("2026-12-01T10:00:00.250Z"));
  ASSERT_EQ(p.sources_size(), 1);
  EXPECT_EQ(p.sources(0).clone_url(), "https://git.example.com/shop.git");
  EXPECT_EQ(DurationFromProto(p.sources(0).poll_interval()), absl::Minutes(5));
  EXPECT_EQ(p.stages(0).name(), testing::MinimalPipeline("shop").stages(0).name());

  EXPECT_EQ(run.pipeline(), "shop");
  EXPECT_EQ(TimeFromProto(run.create_time()), At("2026-12-01T10:00:00Z"));
  EXPECT_FALSE(run.has_end_time());  // text that was no time is dropped, not guessed
  ASSERT_EQ(run.nodes_size(), 1);
  EXPECT_EQ(run.nodes(0).path(), "flow");
  EXPECT_EQ(TimeFromProto(run.nodes(0).deadline()), At("2026-12-01T10:05:00Z"));
  EXPECT_EQ(TimeFromProto(run.nodes(0).start_time()), At("2026-12-01T10:00:01Z"));

  ASSERT_TRUE(hold.has_value());
  EXPECT_EQ(hold->reason(), "rolled back");
  EXPECT_EQ(TimeFromProto(hold->hold_time()), At("2026-12-01T11:00:00Z"));
}

TEST(TimeMigrationTest, ReencodingNamesWhatItCannotRead) {
  EXPECT_THAT(ReencodeTimes("slipway.v1.NoSuchThing", ""),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("unknown message type")));
  EXPECT_THAT(ReencodeTimes("slipway.v1.Run", "\xff\xff\xff"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("cannot be decoded")));
  // A message without times comes back as it was.
  v1::Run run;
  run.set_id("run-2");
  auto same = ReencodeTimes("slipway.v1.Run", run.SerializeAsString());
  ASSERT_OK(same);
  EXPECT_EQ(*same, run.SerializeAsString());
}

}  // namespace
}  // namespace slipway::storage
