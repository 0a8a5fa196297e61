// `slipwayd store copy` between a real SQLite file and a real PostgreSQL database, both ways.
#include "storage/store_copy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/proto_time.h"
#include "common/random.h"
#include "storage/delivery_repository.h"
#include "storage/history_repository.h"
#include "storage/pipeline_repository.h"
#include "storage/preview_repository.h"
#include "storage/run_repository.h"
#include "storage/token_repository.h"
#include "tests/testing/pipelines.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_store.h"

namespace slipway::storage {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

// A store with a row in most tables, through the repositories.
absl::Status Fill(Database& db) {
  return db.Write([](Transaction& tx) -> absl::Status {
    v1::Pipeline p = testing::MinimalPipeline("shop");
    p.set_uid("u1");
    p.set_etag("e1");
    p.set_revision(1);
    if (auto s = PipelineRepository().Insert(tx, p); !s.ok()) return s;
    for (int i = 0; i < 300; ++i) {  // more than one page of a cursor
      v1::Run run;
      run.set_id("run-" + std::to_string(i));
      run.set_pipeline("shop");
      run.set_stage("dev");
      run.set_state(i % 2 == 0 ? v1::RUN_STATE_SUCCEEDED : v1::RUN_STATE_RUNNING);
      if (auto s = RunRepository().Insert(tx, run); !s.ok()) return s.status();
      v1::RunEvent e;
      e.set_run_id(run.id());
      e.set_sequence(1);
      if (auto s = RunRepository().AppendEvent(tx, e); !s.ok()) return s;
    }
    v1::Release r;
    r.set_pipeline("shop");
    r.set_stage("dev");
    r.set_run_id("run-0");
    if (auto s = ReleaseRepository().Insert(tx, r); !s.ok()) return s.status();
    v1::Delivery d;
    d.set_id("dlv-1");
    d.set_provider(v1::PROVIDER_GITHUB);
    d.set_delivery_id("gh-1");
    d.set_status(202);
    if (auto s = DeliveryRepository().Insert(tx, d, true); !s.ok()) return s;
    v1::Preview pv;
    pv.set_uid("pv-1");
    pv.set_name("pr-1");
    pv.set_pipeline("shop");
    pv.set_blueprint("pr");
    pv.set_key("1");
    if (auto s = PreviewRepository().Put(tx, pv); !s.ok()) return s;
    v1::Token t;
    t.set_id("tok1");
    t.set_scope(v1::SCOPE_ADMIN);
    t.set_description("ops");
    t.set_created_by("test");
    *t.mutable_create_time() = ProtoTime(absl::FromUnixSeconds(1700000000));
    if (auto s = TokenRepository().Insert(tx, t, Sha256("secret")); !s.ok()) return s;
    v1::AuditRecord a;
    a.set_actor("ops");
    a.set_action("Test/Fill");
    a.set_target("shop");
    if (auto s = AuditRepository().Append(tx, a); !s.ok()) return s.status();
    return absl::OkStatus();
  });
}

int64_t TotalRows(const std::vector<CopiedTable>& tables) {
  int64_t n = 0;
  for (const auto& t : tables) n += t.rows;
  return n;
}

TEST(StoreCopyTest, SqliteToPostgresAndBackKeepsEveryRow) {
  testing::TempDir dir;
  auto sqlite = Database::Open({.path = dir.File("old.db")});
  ASSERT_OK(sqlite);
  ASSERT_OK(Fill(**sqlite));
  auto before = SummarizeStore(**sqlite);
  ASSERT_OK(before);

  testing::TestStore pg_store(testing::StoreKind::kPostgres, dir.path());
  auto pg = pg_store.Open();
  ASSERT_OK(pg);
  auto copied = CopyStore(**sqlite, **pg);
  ASSERT_OK(copied);
  EXPECT_EQ(TotalRows(*copied), TotalRows(*before));
  EXPECT_GT(TotalRows(*copied), 600);
  auto on_pg = SummarizeStore(**pg);
  ASSERT_OK(on_pg);
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ((*on_pg)[i].rows, (*before)[i].rows) << (*before)[i].name;
    EXPECT_EQ((*on_pg)[i].checksum, (*before)[i].checksum) << (*before)[i].name;
  }
  // The copy serves: reads by the repositories, and new rows continue the sequences.
  ASSERT_OK((*pg)->Write([](Transaction& tx) -> absl::Status {
    auto p = PipelineRepository().Get(tx, "shop");
    EXPECT_OK(p.status());
    auto runs = RunRepository().ListActive(tx);
    EXPECT_OK(runs.status());
    if (runs.ok()) {
      EXPECT_EQ(runs->size(), 150u);
    }
    v1::AuditRecord a;
    a.set_action("Test/After");
    auto seq = AuditRepository().Append(tx, a);
    EXPECT_OK(seq.status());
    if (seq.ok()) {
      EXPECT_EQ(*seq, 2);
    }
    v1::Run run;
    run.set_id("run-new");
    run.set_pipeline("shop");
    run.set_stage("dev");
    auto run_seq = RunRepository().Insert(tx, run);
    EXPECT_OK(run_seq.status());
    if (run_seq.ok()) {
      EXPECT_EQ(*run_seq, 301);
    }
    return absl::OkStatus();
  }));

  // Into a store with rows: refused, and nothing changes there.
  EXPECT_THAT(CopyStore(**sqlite, **pg),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not empty")));
  // And back to a new SQLite file.
  auto back = Database::Open({.path = dir.File("back.db")});
  ASSERT_OK(back);
  auto copied_back = CopyStore(**pg, **back);
  ASSERT_OK(copied_back);
  EXPECT_EQ(TotalRows(*copied_back), TotalRows(*before) + 2);
}

TEST(StoreCopyTest, CopiesEveryTableOfTheSchema) {
  testing::TempDir dir;
  auto db = Database::Open({.path = dir.File("db")});
  ASSERT_OK(db);
  std::vector<std::string> tables;
  ASSERT_OK((*db)->Read([&](Transaction& tx) -> absl::Status {
    auto stmt = tx.Prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      tables.push_back((*stmt)->ColumnText(0));
    }
    return absl::OkStatus();
  }));
  std::vector<std::string> copied = CopiedTableNames();
  std::sort(copied.begin(), copied.end());
  EXPECT_EQ(copied, tables);
}

}  // namespace
}  // namespace slipway::storage
