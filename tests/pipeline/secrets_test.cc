#include "pipeline/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "slipway/v1/admin_service.pb.h"
#include "slipway/v1/audit_service.pb.h"
#include "slipway/v1/delivery.pb.h"
#include "slipway/v1/delivery_service.pb.h"
#include "slipway/v1/pipeline_service.pb.h"
#include "slipway/v1/preview.pb.h"
#include "slipway/v1/release.pb.h"
#include "slipway/v1/release_service.pb.h"
#include "tests/testing/pipelines.h"

namespace slipway::pipeline {
namespace {

TEST(SecretsTest, RedactClearsEveryValueWhereverItSits) {
  v1::Pipeline p = testing::MinimalPipeline("shop", "topsecret");
  auto* node = p.mutable_stages(0)->mutable_flow()->mutable_sequential()->add_steps();
  node->set_ref("call");
  node->mutable_http_request()->set_url("http://x");
  node->mutable_http_request()->mutable_bearer_token()->set_value("tok");
  p.add_webhook_triggers()->mutable_hmac_secret()->set_env("HOOK");
  RedactSecrets(&p);
  std::string bytes = p.SerializeAsString();
  EXPECT_EQ(bytes.find("topsecret"), std::string::npos);
  EXPECT_EQ(bytes.find("tok"), std::string::npos);
  EXPECT_TRUE(p.sources(0).webhook_secret().redacted());
  EXPECT_TRUE(p.stages(0).flow().sequential().steps(1).http_request().bearer_token().redacted());
  // References by name are not secrets and stay.
  EXPECT_EQ(p.webhook_triggers(0).hmac_secret().env(), "HOOK");
}

TEST(SecretsTest, RestoreKeepsStoredValuesMatchedByName) {
  v1::Pipeline stored = testing::MinimalPipeline("shop", "one");
  auto* second = stored.add_sources();
  second->set_name("lib");
  second->mutable_webhook_secret()->set_value("two");

  v1::Pipeline incoming = stored;
  RedactSecrets(&incoming);
  // The client reordered the sources.
  incoming.mutable_sources()->SwapElements(0, 1);
  RestoreRedactedSecrets(&incoming, stored);
  EXPECT_EQ(incoming.sources(0).name(), "lib");
  EXPECT_EQ(incoming.sources(0).webhook_secret().value(), "two");
  EXPECT_EQ(incoming.sources(1).webhook_secret().value(), "one");
  EXPECT_FALSE(incoming.sources(1).webhook_secret().redacted());
}

TEST(SecretsTest, ANewSecretValueIsNotOverwritten) {
  v1::Pipeline stored = testing::MinimalPipeline("shop", "old");
  v1::Pipeline incoming = testing::MinimalPipeline("shop", "new");
  RestoreRedactedSecrets(&incoming, stored);
  EXPECT_EQ(incoming.sources(0).webhook_secret().value(), "new");
}

// ---------------------------------------------------------------------------------------------
// The proto walk: every message of the API, so that a new secret field cannot be forgotten.

namespace walk {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;

// One message of each API file, so that all of them are linked in and registered.
std::vector<const FileDescriptor*> ApiFiles() {
  std::vector<const FileDescriptor*> files = {v1::Pipeline::descriptor()->file(),
                                              v1::CreateTokenResponse::descriptor()->file(),
                                              v1::Delivery::descriptor()->file(),
                                              v1::ListDeliveriesRequest::descriptor()->file(),
                                              v1::ApplyPipelineRequest::descriptor()->file(),
                                              v1::Preview::descriptor()->file(),
                                              v1::Run::descriptor()->file(),
                                              v1::StartRunRequest::descriptor()->file(),
                                              v1::AuditRecord::descriptor()->file()};
  return files;
}

void AddWithNested(const Descriptor* d, std::vector<const Descriptor*>* out) {
  if (d->options().map_entry()) return;
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) AddWithNested(d->nested_type(i), out);
}

std::vector<const Descriptor*> AllMessages() {
  std::vector<const Descriptor*> out;
  for (const FileDescriptor* file : ApiFiles()) {
    for (int i = 0; i < file->message_type_count(); ++i) AddWithNested(file->message_type(i), &out);
  }
  return out;
}

std::string SentinelFor(const FieldDescriptor* f) {
  // Entries of lists are matched by name; names are DNS labels.
  if (f->name() == "name") return "n";
  if (SensitivityOf(f) == v1::SENSITIVITY_SECRET) return "leak-" + f->full_name();
  if (SensitivityOf(f) == v1::SENSITIVITY_SHOWN_ONCE) return "once-" + f->full_name();
  return "https://user:pw@host/" + f->full_name();
}

// Sets every string, list, map and message field (one level of lists and maps, depth-limited),
// choosing in each oneof the member that is a secret if there is one.
void Populate(Message* m, int depth) {
  const Descriptor* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (const auto* oneof = f->real_containing_oneof(); oneof != nullptr) {
      const FieldDescriptor* chosen = oneof->field(0);
      for (int j = 0; j < oneof->field_count(); ++j) {
        if (SensitivityOf(oneof->field(j)) == v1::SENSITIVITY_SECRET) chosen = oneof->field(j);
      }
      if (chosen != f) continue;
    }
    if (f->is_map()) {
      Message* entry = r->AddMessage(m, f);
      const auto* er = entry->GetReflection();
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) er->SetString(entry, key, "k");
      if (value->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        er->SetString(entry, value, SentinelFor(f));
      } else if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 0) {
        Populate(er->MutableMessage(entry, value), depth - 1);
      }
      continue;
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
        f->type() == FieldDescriptor::TYPE_STRING) {
      if (f->is_repeated()) {
        r->AddString(m, f, SentinelFor(f));
      } else {
        r->SetString(m, f, SentinelFor(f));
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth > 0) {
      Populate(f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth - 1);
    }
  }
}

TEST(SecretFieldWalkTest, EveryFieldThatLooksLikeACredentialIsMarked) {
  // Names that suggest a credential, and the fields with such names that are not one.
  const std::regex looks_secret("secret|token|passw|credential|auth|key|header|env|cookie");
  const std::map<std::string, std::string> not_secrets = {
      {"slipway.v1.SecretRef.env", "the name of an environment variable, not its value"},
      {"slipway.v1.ListPipelinesRequest.page_token", "a pagination cursor"},
      {"slipway.v1.ListPipelinesResponse.next_page_token", "a pagination cursor"},
      {"slipway.v1.ListRunsRequest.page_token", "a pagination cursor"},
      {"slipway.v1.ListRunsResponse.next_page_token", "a pagination cursor"},
      {"slipway.v1.ListReleasesRequest.page_token", "a pagination cursor"},
      {"slipway.v1.ListReleasesResponse.next_page_token", "a pagination cursor"},
      {"slipway.v1.ListPipelineRevisionsRequest.page_token", "a pagination cursor"},
      {"slipway.v1.ListPipelineRevisionsResponse.next_page_token", "a pagination cursor"},
      {"slipway.v1.ListAuditRecordsRequest.page_token", "a pagination cursor"},
      {"slipway.v1.ListAuditRecordsResponse.next_page_token", "a pagination cursor"},
      {"slipway.v1.ArgumentSpec.secret", "whether the argument is secret, a flag"},
      {"slipway.v1.CreateTokenResponse.token", "the token's metadata; the secret is `secret`"},
      {"slipway.v1.ListTokensResponse.tokens", "token metadata; secrets are stored as hashes"},
      {"slipway.v1.ServerInfo.caller_token_id", "the token's public id, as in audit lines"},
      {"slipway.v1.Preview.key", "\"pr:<number>\" or \"branch:<name>\", an identity"},
      {"slipway.v1.ContainerSettings.secret_env",
       "names to SecretRefs, whose values are marked (SecretRef.value)"},
      {"slipway.v1.ContainerSettings.registry_auth",
       "a user name and a SecretRef password, whose value is marked"},
      {"slipway.v1.Replica.lease_token", "a fencing counter raised at each takeover, public"},
      {"slipway.v1.Delivery.headers",
       "recorded after intake drops Authorization, Cookie, signatures and tokens"},
  };
  std::vector<std::string> unmarked;
  std::set<std::string> seen;
  for (const Descriptor* d : AllMessages()) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      seen.insert(f->full_name());
      if (!std::regex_search(std::string(f->name()), looks_secret)) continue;
      if (SensitivityOf(f) != v1::SENSITIVITY_UNSPECIFIED) continue;
      if (f->message_type() == v1::SecretRef::descriptor()) continue;
      if (not_secrets.count(f->full_name()) > 0) continue;
      unmarked.push_back(f->full_name());
    }
  }
  EXPECT_THAT(unmarked, ::testing::IsEmpty())
      << "mark these [(sensitivity) = SENSITIVITY_SECRET], or list them here with the reason";
  for (const auto& [name, reason] : not_secrets) {
    EXPECT_EQ(seen.count(name), 1u) << name << " no longer exists; drop it from the list";
  }
}

TEST(SecretFieldWalkTest, RedactionHidesEveryMarkedSecretInEveryMessage) {
  int secrets_seen = 0;
  for (const Descriptor* d : AllMessages()) {
    std::unique_ptr<Message> m(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->New());
    Populate(m.get(), 4);
    std::string before = m->DebugString();
    if (before.find("leak-") != std::string::npos) ++secrets_seen;
    bool hides_something =
        before.find("leak-") != std::string::npos || before.find("user:pw@") != std::string::npos;
    EXPECT_EQ(NeedsRedaction(*m), hides_something) << d->full_name();
    std::unique_ptr<Message> original(m->New());
    original->CopyFrom(*m);

    RedactSecrets(m.get());
    std::string after = m->DebugString();
    EXPECT_EQ(after.find("leak-"), std::string::npos) << d->full_name() << ":\n" << after;
    EXPECT_EQ(after.find("user:pw@"), std::string::npos) << d->full_name() << ":\n" << after;
    EXPECT_FALSE(NeedsRedaction(*m)) << d->full_name();
    // Shown-once values belong to the response that creates them.
    if (before.find("once-") != std::string::npos) {
      EXPECT_NE(after.find("once-"), std::string::npos) << d->full_name();
    }

    // A client that sends the redacted message back changes nothing.
    RestoreRedactedSecrets(m.get(), *original);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*m, *original))
        << d->full_name() << ":\n"
        << m->DebugString();
  }
  // The walk reached the secrets of the pipeline model from Pipeline, Run, Preview and Release.
  EXPECT_GT(secrets_seen, 20);
}

}  // namespace walk

TEST(SecretsTest, MapSecretsShowStarsAndKeepTheirStoredValueOnUpdate) {
  v1::HttpRequestNode stored;
  (*stored.mutable_headers())["X-Api-Key"] = "k-123";
  (*stored.mutable_headers())["Accept"] = "application/json";
  v1::HttpRequestNode shown = stored;
  RedactSecrets(&shown);
  EXPECT_EQ(shown.headers().at("X-Api-Key"), "***");
  v1::HttpRequestNode incoming = shown;
  (*incoming.mutable_headers())["Accept"] = "text/plain";
  (*incoming.mutable_headers())["X-New"] = "***";
  RestoreRedactedSecrets(&incoming, stored);
  EXPECT_EQ(incoming.headers().at("X-Api-Key"), "k-123");
  EXPECT_EQ(incoming.headers().at("Accept"), "text/plain");
  // A key the stored spec does not have cannot be restored and keeps what was sent.
  EXPECT_EQ(incoming.headers().at("X-New"), "***");
}

TEST(SecretsTest, UrlCredentialsAreMaskedAndKeptOnUpdate) {
  v1::Source stored;
  stored.set_name("app");
  stored.set_clone_url("https://ci:glpat-123@git.example/shop.git");
  v1::Source shown = stored;
  RedactSecrets(&shown);
  EXPECT_EQ(shown.clone_url(), "https://***@git.example/shop.git");
  v1::Source same = shown;
  RestoreRedactedSecrets(&same, stored);
  EXPECT_EQ(same.clone_url(), stored.clone_url());
  // A changed URL is the user's new value, masked or not.
  v1::Source moved = shown;
  moved.set_clone_url("https://***@git.example/other.git");
  RestoreRedactedSecrets(&moved, stored);
  EXPECT_EQ(moved.clone_url(), "https://***@git.example/other.git");
}

}  // namespace
}  // namespace slipway::pipeline
